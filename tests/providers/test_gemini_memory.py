"""A ~60 MB Gemini batch goes through file mode end to end with bounded client memory.

The emulator runs in a child process so that tracemalloc measures the client alone:
building requests, spooling the JSONL to disk, the chunked upload, the create, and the
streamed download of the responses file.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
import urllib.request

import pytest

from seobatch.providers.base import Prompt
from seobatch.providers.gemini import GeminiBatches

from tests.support.canaries import CANARY_GEMINI

BATCH_BYTES = 60_000_000
ITEMS = 10_000
PAGE_TEXT = 5_900  # bytes of page text per request: ~6 KB per JSONL line

SERVE = (
    "import sys, time\n"
    "from seobatch.emulator import Emulator\n"
    "emu = Emulator(processing_seconds=0.0).start()\n"
    "print(emu.url, flush=True)\n"
    "sys.stdin.read()\n"  # run until the parent closes our stdin
    "emu.stop()\n"
)


@pytest.fixture
def emulator_process():
    proc = subprocess.Popen([sys.executable, "-c", SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "the emulator did not start"
        yield url
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_emulator/stats", timeout=10) as resp:
        return json.load(resp)


def test_a_60_mb_batch_goes_through_file_mode_with_bounded_memory(emulator_process):
    url = emulator_process
    c = GeminiBatches(CANARY_GEMINI, url, timeout=(5, 120), inline_limit_bytes=1_000_000)
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 120)[:PAGE_TEXT]

    def requests():  # built lazily, like the pipeline's keyset pages
        for i in range(ITEMS):
            prompt = Prompt("You write SEO metadata.", f"URL: https://big.test/p/{i}\nTitle: Item {i}\n\n{filler}")
            yield c.build_request(f"p{i}", prompt, model="gemini-2.5-flash", max_tokens=300)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.monotonic()
    try:
        created = c.create_batch(requests(), model="gemini-2.5-flash", display_name="job-60mb")
        info = c.get_batch(created.id)
        seen = 0
        for item in c.iter_results(info):
            seen += item.outcome == "succeeded"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    rss_growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before

    s = stats(url)["gemini"]
    assert s["bytes_uploaded"] >= BATCH_BYTES, s
    assert (s["upload_start"], s["create"], s["download"]) == (1, 1, 1)
    assert seen == ITEMS
    print(
        f"\n60 MB file-mode batch: uploaded {s['bytes_uploaded'] / 1e6:.1f} MB in {s['upload']} chunks, "
        f"tracemalloc peak {peak / 1e6:.2f} MB, max-RSS growth {rss_growth_kb / 1024:.1f} MiB, {elapsed:.1f}s"
    )
    assert peak < 8_000_000, f"client peak {peak / 1e6:.1f} MB for a {s['bytes_uploaded'] / 1e6:.0f} MB batch"
