"""A ~40 MB OpenAI batch: spooled multipart upload, create and streamed results with
bounded client memory.

The emulator runs in a child process so that tracemalloc measures the client alone:
building requests, spooling the multipart body to disk, the upload, the create, and the
streamed download of the output file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
import urllib.request

import pytest

from seobatch.providers.base import Prompt
from seobatch.providers.openai import OpenAIBatches

BATCH_BYTES = 40_000_000
ITEMS = 7_000
PAGE_TEXT = 5_600  # bytes of page text per request: ~6 KB per JSONL line

SERVE = (
    "import sys\n"
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


def test_a_40_mb_batch_is_uploaded_and_read_with_bounded_memory(emulator_process):
    url = emulator_process
    c = OpenAIBatches("sk-test", f"{url}/v1", timeout=(5, 120))
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 120)[:PAGE_TEXT]

    def requests():  # built lazily, like the pipeline's keyset pages
        for i in range(ITEMS):
            prompt = Prompt("You write SEO metadata.", f"URL: https://big.test/p/{i}\nTitle: Item {i}\n\n{filler}")
            yield c.build_request(f"p{i}", prompt, model="gpt-4o-mini", max_tokens=300)

    tracemalloc.start()
    started = time.monotonic()
    try:
        created = c.create_batch(requests(), model="gpt-4o-mini", display_name="job-40mb")
        info = c.get_batch(created.id)
        seen = sum(item.outcome == "succeeded" for item in c.iter_results(info))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started

    s = stats(url)["openai"]
    assert s["bytes_uploaded"] >= BATCH_BYTES, s
    assert (s["upload"], s["create"], s["download"]) == (1, 1, 1)
    assert seen == ITEMS
    print(f"\n40 MB OpenAI batch: uploaded {s['bytes_uploaded'] / 1e6:.1f} MB, "
          f"tracemalloc peak {peak / 1e6:.2f} MB, {elapsed:.1f}s")
    assert peak < 8_000_000, f"client peak {peak / 1e6:.1f} MB for a {s['bytes_uploaded'] / 1e6:.0f} MB batch"
