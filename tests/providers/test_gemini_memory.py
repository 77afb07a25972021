"""A ~60 MB Gemini batch goes through file mode end to end with bounded client memory.

The emulator runs in a child process (``emulator_process``) so that tracemalloc measures
the client alone: building requests, spooling the JSONL to disk, the chunked upload, the
create, and the streamed download of the responses file.
"""

from __future__ import annotations

import resource
import time

from seobatch.providers.gemini import GeminiBatches

from tests.support.canaries import CANARY_GEMINI
from tests.support.memory import big_prompts, stats, traced_peak

BATCH_BYTES = 60_000_000
ITEMS = 10_000
PAGE_TEXT = 5_900  # bytes of page text per request: ~6 KB per JSONL line


def test_a_60_mb_batch_goes_through_file_mode_with_bounded_memory(emulator_process):
    url = emulator_process
    c = GeminiBatches(CANARY_GEMINI, url, timeout=(5, 120), inline_limit_bytes=1_000_000)

    def run() -> int:
        requests = (c.build_request(cid, prompt, model="gemini-2.5-flash", max_tokens=300)
                    for cid, prompt in big_prompts(ITEMS, PAGE_TEXT))
        created = c.create_batch(requests, model="gemini-2.5-flash", display_name="job-60mb")
        return sum(item.outcome == "succeeded" for item in c.iter_results(c.get_batch(created.id)))

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    seen, peak = traced_peak(run)
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
