"""A ~40 MB OpenAI batch: spooled multipart upload, create and streamed results with
bounded client memory.

The emulator runs in a child process (``emulator_process``) so that tracemalloc measures
the client alone: building requests, spooling the multipart body to disk, the upload, the
create, and the streamed download of the output file.
"""

from __future__ import annotations

import time

from seobatch.providers.openai import OpenAIBatches

from tests.support.memory import big_prompts, stats, traced_peak

BATCH_BYTES = 40_000_000
ITEMS = 7_000
PAGE_TEXT = 5_600  # bytes of page text per request: ~6 KB per JSONL line


def test_a_40_mb_batch_is_uploaded_and_read_with_bounded_memory(emulator_process):
    url = emulator_process
    c = OpenAIBatches("sk-test", f"{url}/v1", timeout=(5, 120))

    def run() -> int:
        requests = (c.build_request(cid, prompt, model="gpt-4o-mini", max_tokens=300)
                    for cid, prompt in big_prompts(ITEMS, PAGE_TEXT))
        created = c.create_batch(requests, model="gpt-4o-mini", display_name="job-40mb")
        return sum(item.outcome == "succeeded" for item in c.iter_results(c.get_batch(created.id)))

    started = time.monotonic()
    seen, peak = traced_peak(run)
    elapsed = time.monotonic() - started

    s = stats(url)["openai"]
    assert s["bytes_uploaded"] >= BATCH_BYTES, s
    assert (s["upload"], s["create"], s["download"]) == (1, 1, 1)
    assert seen == ITEMS
    print(f"\n40 MB OpenAI batch: uploaded {s['bytes_uploaded'] / 1e6:.1f} MB, "
          f"tracemalloc peak {peak / 1e6:.2f} MB, {elapsed:.1f}s")
    assert peak < 8_000_000, f"client peak {peak / 1e6:.1f} MB for a {s['bytes_uploaded'] / 1e6:.0f} MB batch"
