"""``delete_files``: a batch's files at the provider go once its results are saved."""

from __future__ import annotations

from seobatch.providers.anthropic import AnthropicBatches
from seobatch.providers.base import Prompt

from tests.support.canaries import CANARY_ANTHROPIC
from tests.support.fakehttp import Sleeps
from tests.support.gemini import MODEL, client, reqs


def test_gemini_file_mode_deletes_its_input_and_responses_files_and_tolerates_them_gone(emulator):
    c = client(emulator.url, inline_limit_bytes=2000, upload_chunk_bytes=4096)
    created = c.create_batch(reqs(c, 25, filler="x" * 300), model=MODEL, display_name="job-file")
    info = c.get_batch(created.id)
    assert len(list(c.iter_results(info))) == 25
    assert len(emulator.store.files) == 2  # the upload and the responses file
    c.delete_files(info)
    assert emulator.store.files == {} and emulator.stats()["gemini"]["file_delete"] == 2
    # Again (a re-run of the results stage): the files are gone, which is fine
    c.delete_files(info)
    assert emulator.stats()["gemini"]["file_delete"] == 4
    # The batch itself is still listed, so reconciliation still sees it
    assert c.get_batch(created.id).state == "ended"


def test_gemini_inline_batch_has_no_files_to_delete(emulator):
    c = client(emulator.url)
    info = c.get_batch(c.create_batch(reqs(c, 3), model=MODEL, display_name="job-inline").id)
    c.delete_files(info)
    assert emulator.stats()["gemini"]["file_delete"] == 0


def test_anthropic_delete_files_sends_nothing(emulator):
    c = AnthropicBatches(CANARY_ANTHROPIC, emulator.url, sleep=Sleeps(), rng=lambda: 0.0)
    req = c.build_request("p1", Prompt("s", "URL: https://x.test/1\nTitle: One\n\ntext"), model="claude-sonnet-4-5",
                          max_tokens=100)
    info = c.get_batch(c.create_batch([req], model="claude-sonnet-4-5", display_name="one").id)
    before = emulator.stats()["anthropic"]
    c.delete_files(info)
    assert emulator.stats()["anthropic"] == before
