"""What the fault tests share: canary keys, pages, settings, a golden run, a run driver."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pipeline_support import drive, make_settings, wait_for

from seobatch import db
from seobatch.config import Settings
from seobatch.models import Page, SeoBatchEvent, SeoBatchItem, SeoBatchJob

from . import golden

#: Canary keys: every fault test runs with these, and they must surface nowhere (S1).
CANARY_ANTHROPIC = "sk-ant-CANARY-api03-" + "Zq7" * 12
CANARY_GEMINI = "AIzaCANARY" + "k9X" * 10
CANARIES = (CANARY_ANTHROPIC, CANARY_GEMINI)

MODELS = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}


def fault_settings(emulator: Any = None, **overrides: Any) -> Settings:
    """Settings for a fault test: canary keys, the emulator, short waits everywhere."""
    base: dict[str, Any] = dict(
        anthropic_api_key=CANARY_ANTHROPIC,
        gemini_api_key=CANARY_GEMINI,
        submit_lease_seconds=2,
        http_timeout=2.0,
        http_retries=2,
        chunk_size=7,
    )
    base.update(overrides)
    return make_settings(emulator, **base)


def seed_pages(n: int, start: int = 1) -> list[int]:
    """``n`` pages with varied but deterministic text; returns their ids."""
    ids = []
    kinds = ("oak chair", "linen shirt", "café guide", "tea kettle", "road bike")
    for i in range(start, start + n):
        kind = kinds[i % len(kinds)]
        page = Page(
            url=f"https://shop.example.com/{kind.replace(' ', '-')}/{i}",
            title=f"The {kind} n°{i} — “handmade” & tested",
            content=f"Our {kind} number {i} is made in small batches. " * 4 + "Prices include VAT.",
        )
        page.save()
        ids.append(page.id)
    return ids


def run_steps(job_id: int) -> list:
    from seobatch.stages import Step

    return [Step("collect", job_id)]


def kickoff_run(settings: Settings, model: str | None = None, **kw: Any) -> int:
    from seobatch.stages.kickoff import kickoff

    return kickoff(settings=settings, model=model, **kw).job.id


def run_by_hand(settings: Settings, model: str | None = None, **kw: Any) -> int:
    """The whole run, stage after stage in this thread (no broker): the golden path."""
    job_id = kickoff_run(settings, model, **kw)
    drive(run_steps(job_id), settings)
    return job_id


def golden_run(emulator: Any, settings: Settings, pages: int, model: str | None = None,
               setup: Callable[[], None] | None = None, **kw: Any) -> dict[str, Any]:
    """Run the input fault-free, snapshot the tables, then empty them and re-seed the same
    pages so the fault run starts from the same input; the emulator starts afresh."""
    seed_pages(pages)
    if setup:
        setup()
    run_by_hand(settings, model, **kw)
    snap = golden.snapshot()
    assert all(j["status"] in ("completed", "failed") for j in snap["jobs"])
    golden.wipe()
    emulator.reset()
    seed_pages(pages)
    if setup:
        setup()
    return snap


def chain(first_id: int) -> list[int]:
    from seobatch.runs import run_chain

    return run_chain(first_id)


def run_ended(first_id: int) -> bool:
    ids = chain(first_id)
    statuses = [s for (s,) in SeoBatchJob.select(SeoBatchJob.status).where(SeoBatchJob.id.in_(ids)).tuples()]
    return bool(statuses) and all(s in ("completed", "failed") for s in statuses)


def wait_run(first_id: int, timeout: float = 30.0) -> list[int]:
    wait_for(lambda: run_ended(first_id), timeout=timeout, interval=0.05)
    # Events are delivered right after the commit that ended the job; give it a moment.
    wait_for(lambda: golden.undelivered_events() == 0, timeout=30, interval=0.02)
    return chain(first_id)


def dump_tables() -> str:
    """Every row of every table as text (for canary scans)."""
    parts = []
    for model in (Page, SeoBatchJob, SeoBatchItem, SeoBatchEvent):
        for row in model.select().tuples():
            parts.append(repr(row))
    return "\n".join(parts)


def stopwatch() -> Callable[[], float]:
    start = time.monotonic()
    return lambda: time.monotonic() - start


__all__ = ["CANARIES", "db", "fault_settings", "golden_run", "seed_pages", "wait_for", "wait_run"]
