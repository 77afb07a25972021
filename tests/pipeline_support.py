"""Helpers for the pipeline tests: pages, settings, a synchronous driver, a gated provider.

Stage tests run against the emulator over real sockets with the real clients. The
in-memory ``FakeProvider`` exists only for what a server cannot do on cue: hold a
create "in flight" until the test says go, or return hand-written result streams
(unknown, duplicate and missing custom_ids).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from seobatch.config import Settings
from seobatch.errors import AmbiguousCreate
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.providers.base import BatchInfo, BatchRequest, ItemResult, Prompt
from seobatch.stages import DidNotSettle, Step
from seobatch.stages import drive as stages_drive

TEST_KEY = "test-key-0123456789"


def make_settings(emulator=None, **overrides) -> Settings:
    """Settings for a test: dummy keys, the emulator's URL, no waiting anywhere."""
    base = dict(
        anthropic_api_key=TEST_KEY,
        gemini_api_key=TEST_KEY,
        poll_interval=0,
        poll_max_interval=1,
        submit_settle_seconds=0,
        chunk_size=7,
    )
    if emulator is not None:
        base.update(anthropic_base_url=emulator.url, gemini_base_url=emulator.url)
    base.update(overrides)
    return Settings(**base)


def make_pages(n: int, start: int = 1, **fields) -> list[Page]:
    """``n`` saved pages with distinct URLs and titles (and enough text to describe)."""
    pages = []
    for i in range(start, start + n):
        page = Page(
            url=f"https://shop.example.com/p/{i}",
            title=f"Hand-made oak chair model {i}",
            content=f"The oak chair model {i} is made by hand in our workshop from local oak. " * 3,
            **fields,
        )
        page.save()
        pages.append(page)
    return pages


def drive(steps: list[Step], settings: Settings, provider=None, *, max_steps: int = 500) -> list[Step]:
    """Run steps (and the steps they return) in order, ignoring delays; returns the trace."""
    try:
        return stages_drive(steps, settings=settings, provider=provider, max_steps=max_steps).trace
    except DidNotSettle as exc:
        raise AssertionError(str(exc)) from None


def job(job_id: int) -> SeoBatchJob:
    return SeoBatchJob.get_by_id(job_id)


def items_of(job_id: int) -> list[SeoBatchItem]:
    return list(SeoBatchItem.select().where(SeoBatchItem.job == job_id).order_by(SeoBatchItem.id))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def reply_for(user: str) -> str:
    title = re.search(r"^Title: (.*)$", user, re.M)
    name = (title.group(1) if title else "A page").strip()[:40] or "A page"
    return json.dumps({
        "title": f"{name} | Example Shop",
        "meta_description": f"Everything about {name}: what it is, why it matters and where to start.",
    })


class FakeProvider:
    name = "anthropic"
    matches_by_name = True  # it keeps display names (a real Anthropic batch does not)

    def __init__(self) -> None:
        self.batches: dict[str, dict] = {}
        self.creates = 0
        self.cancels = 0
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        #: When set, create waits on it (a call "in flight").
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        #: "drop" → create the batch, then raise AmbiguousCreate.
        self.fault: str | None = None
        self.ended = True
        self.outcomes: dict[str, str] = {}

    def build_request(self, custom_id: str, prompt: Prompt, *, model: str, max_tokens: int) -> BatchRequest:
        return BatchRequest(custom_id, {
            "model": model, "max_tokens": max_tokens, "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
        })

    def create_batch(self, requests: Iterable[BatchRequest], *, model: str, display_name: str) -> BatchInfo:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        items = [(r.custom_id, r.body_dict()["messages"][0]["content"]) for r in requests]
        with self.lock:
            self.creates += 1
            batch_id = f"msgbatch_{next(self._ids):04d}"
            self.batches[batch_id] = {"items": items, "name": display_name, "created": _now(), "canceled": False}
        if self.fault == "drop":
            self.fault = None
            raise AmbiguousCreate("connection dropped", provider=self.name)
        return self._info(batch_id)

    def _info(self, batch_id: str) -> BatchInfo:
        b = self.batches[batch_id]
        ended = self.ended or b["canceled"]
        ending = ("canceled" if b["canceled"] else "succeeded") if ended else None
        return BatchInfo(
            id=batch_id, state="ended" if ended else "in_progress",
            provider_state="ended" if ended else "in_progress", ending=ending,
            request_count=len(b["items"]), created_at=b["created"], display_name=b["name"],
        )

    def get_batch(self, batch_id: str) -> BatchInfo:
        return self._info(batch_id)

    def find_batches(self, *, display_name: str, created_after: datetime, request_count: int) -> list[BatchInfo]:
        return [
            self._info(batch_id)
            for batch_id, b in sorted(self.batches.items(), reverse=True)
            if b["name"] == display_name and b["created"] >= created_after and len(b["items"]) == request_count
        ]

    def find_batch(self, *, display_name: str, created_after: datetime, request_count: int) -> BatchInfo | None:
        found = self.find_batches(display_name=display_name, created_after=created_after, request_count=request_count)
        return found[0] if found else None

    def cancel_batch(self, batch_id: str) -> BatchInfo:
        self.cancels += 1
        self.batches[batch_id]["canceled"] = True
        return self._info(batch_id)

    def delete_batch(self, batch_id: str) -> None:
        self.batches.pop(batch_id, None)

    def iter_results(self, batch: BatchInfo) -> Iterator[ItemResult]:
        b = self.batches[batch.id]
        for custom_id, user in b["items"]:
            outcome = "canceled" if b["canceled"] else self.outcomes.get(custom_id, "succeeded")
            if outcome == "succeeded":
                yield ItemResult(custom_id, "succeeded", reply_for(user), 100, 30)
            elif outcome == "invalid":
                yield ItemResult(custom_id, "succeeded", "I cannot help with that.", 100, 8)
            elif outcome == "missing":
                continue
            else:
                yield ItemResult(custom_id, outcome, None, 0, 0, error=f"{outcome} by test")


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def ended(job_ids) -> bool:
    """All these jobs are completed or failed (reads the database)."""
    ids = list(job_ids)
    rows = SeoBatchJob.select(SeoBatchJob.status).where(SeoBatchJob.id.in_(ids))
    statuses = [r.status for r in rows]
    return len(statuses) == len(ids) and all(s in ("completed", "failed") for s in statuses)



def free_port() -> int:
    """A localhost port nothing listens on, for a child process to bind.

    ``bind(0)``, close, then let a child bind races: the kernel may hand that port to
    the next outgoing connection of any process before the child binds it. A port below
    the kernel's ephemeral range is never given to an outgoing connection, so only
    another listener started in between could take it (and the child then fails loudly).
    """
    import random
    import socket

    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    candidates = [random.randrange(10_000, low) for _ in range(50)] if low > 11_000 else []
    for port in [*candidates, 0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise AssertionError("no free port on 127.0.0.1")
