"""The emulator's in-memory state: batches, files, upload sessions, clock and call counts.

Everything mutable sits behind one lock. Batch items are immutable once stored, so a
results stream can read them without the lock. A batch's fate is decided when it is
created (from the faults of that moment): which items error, expire or go malformed,
and whether the whole batch expires, is canceled or fails. Its state at any time then
follows from the clock alone, which keeps the emulator deterministic and lock-light.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .faults import ANTHROPIC_OPS, GEMINI_OPS, OPENAI_OPS, Faults
from .replies import digest

# Planned per-item fates (bytes in Batch.fates).
OK, ERRORED, EXPIRED, MALFORMED = 0, 1, 2, 3
# Final per-item outcomes once the batch has ended.
SUCCEEDED, CANCELED = "succeeded", "canceled"

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_id(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def rfc3339(ts: float) -> str:
    """``2026-11-28T18:37:24.100435Z`` (microseconds, Z), what both APIs send."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class Item:
    """What the emulator keeps of one request: enough to answer it, not the whole prompt."""

    key: str
    url: str
    title: str
    input_tokens: int
    max_tokens: int | None
    model: str
    injection: str | None = None
    prefill: str = ""
    #: A request the API would reject while processing (surfaces as an errored item).
    invalid: str | None = None
    #: Gemini inline requests: the free ``metadata`` map, echoed back with the response.
    metadata: Any = None


@dataclass
class Batch:
    provider: str  # "anthropic" | "gemini" | "openai"
    id: str  # msgbatch_…, batches/… or batch_…
    seq: int
    created: float
    ends: float  # when processing ends, unless canceled earlier
    processing_seconds: float
    items: list[Item]
    fates: bytearray
    obey: bool = False
    #: Bad reply kind per item index (``Faults.bad_replies`` when the batch was created).
    bad: dict[int, str] = field(default_factory=dict)
    shuffle: bool = True
    #: Planned batch-level outcome: None, "expire", "cancel" or "fail".
    outcome: str | None = None
    cancel_at: float | None = None
    # Gemini only
    model: str = ""
    display_name: str = ""
    input_file: str | None = None  # files/… when created from a file
    output_file: str | None = None  # files/batch-… once written
    api_version: str = "v1beta"
    # OpenAI only
    endpoint: str = ""
    metadata_map: dict[str, str] | None = None
    #: Line-numbered validation errors: the batch ends ``failed`` after validating.
    errors: list[dict[str, Any]] | None = None
    error_file: str | None = None
    write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Derived values that never change once the batch has ended (tallies, output).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _done_rank: array | None = field(default=None, repr=False)

    # -- time ---------------------------------------------------------------------------
    def ended_at(self) -> float:
        if self.cancel_at is None:
            return self.ends
        # A cancel lets in-flight work finish briefly before the batch ends.
        if self.outcome == "stuck":  # nothing is in flight: the cancel lands at once
            return self.cancel_at
        return min(self.ends, self.cancel_at + 0.25 * self.processing_seconds)

    def is_ended(self, now: float) -> bool:
        return now >= self.ended_at()

    def progress(self, at: float) -> float:
        """Share of items processed by ``at`` (0..1)."""
        if self.outcome == "stuck":
            return 0.0
        if self.processing_seconds <= 0:
            return 1.0
        return min(1.0, max(0.0, (at - self.created) / self.processing_seconds))

    def cutoff(self) -> int:
        """How many items (by done-rank) finished before the batch was cut short."""
        if self.cancel_at is not None:
            return int(len(self.items) * self.progress(self.cancel_at))
        if self.outcome == "expire":
            return len(self.items) // 2
        return len(self.items)

    def done_rank(self, index: int) -> int:
        """The order in which items get processed (deterministic per batch)."""
        if self._done_rank is None:
            order = sorted(range(len(self.items)), key=lambda i: digest(self.id, "done", self.items[i].key, str(i)))
            ranks = array("I", bytes(4 * len(order)))
            for rank, i in enumerate(order):
                ranks[i] = rank
            self._done_rank = ranks
        return self._done_rank[index]

    def final_outcome(self, index: int) -> str:
        """succeeded | errored | expired | canceled | malformed | obey — once ended."""
        item = self.items[index]
        if self.outcome == "fail" or item.invalid:
            return "errored"
        if self.done_rank(index) >= self.cutoff():
            return CANCELED if self.cancel_at is not None else "expired"
        fate = self.fates[index]
        if fate == ERRORED:
            return "errored"
        if fate == EXPIRED:
            return "expired"
        if fate == MALFORMED:
            return "malformed"
        if self.obey and item.injection:
            return "obey"
        return self.bad.get(index, SUCCEEDED)

    def result_order(self) -> list[int]:
        order = list(range(len(self.items)))
        if self.shuffle:
            order.sort(key=lambda i: digest(self.id, "order", str(i)))
        return order


@dataclass
class StoredFile:
    name: str  # files/…
    display_name: str
    mime_type: str
    size: int
    sha256: str  # base64, as the Files API reports it
    created: float
    source: str  # UPLOADED | GENERATED
    path: str
    api_version: str = "v1beta"
    provider: str = "gemini"
    purpose: str = ""


@dataclass
class UploadSession:
    id: str
    path: str
    declared_size: int | None
    mime_type: str
    display_name: str
    name: str | None
    api_version: str
    received: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def plan_fates(batch_id: str, keys: list[str], faults: Faults) -> bytearray:
    """Exact shares: the first round(n*rate) items of a per-batch shuffle get each fate."""
    n = len(keys)
    fates = bytearray(n)
    order = sorted(range(n), key=lambda i: digest(batch_id, "fate", keys[i], str(i)))
    pos = 0
    for fate, rate in ((ERRORED, faults.error_rate), (EXPIRED, faults.expire_rate),
                       (MALFORMED, faults.malformed_rate)):
        count = min(n - pos, round(n * rate))
        for i in order[pos:pos + count]:
            fates[i] = fate
        pos += count
    return fates


class Store:
    """Thread-safe home of everything the emulator remembers."""

    def __init__(self, processing_seconds: float, faults: Faults) -> None:
        self.lock = threading.RLock()
        self.processing_seconds = self.initial_processing = float(processing_seconds)
        self.initial_faults = faults
        self.faults = faults
        self.offset = 0.0  # seconds added to the wall clock (Emulator.advance)
        self.fault_generation = 0
        self.tmpdir = tempfile.mkdtemp(prefix="seobatch-emulator-")
        self._reset_data()

    def _reset_data(self) -> None:
        self.batches: dict[str, Batch] = {}
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, UploadSession] = {}
        self.seq = 0
        self.counts: dict[str, Any] = {
            "anthropic": dict.fromkeys(ANTHROPIC_OPS, 0) | {"batches_created": 0, "requests_created": 0},
            "gemini": dict.fromkeys(GEMINI_OPS, 0) | {"batches_created": 0, "requests_created": 0,
                                                      "bytes_uploaded": 0, "bytes_downloaded": 0},
            "openai": dict.fromkeys(OPENAI_OPS, 0) | {"batches_created": 0, "requests_created": 0,
                                                      "bytes_uploaded": 0, "bytes_downloaded": 0},
            "key_in_query": 0,
            "unknown_routes": 0,
            "faults": {"http_errors": 0, "dropped": 0, "hangs": 0, "truncated": 0},
        }

    # -- clock ----------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.offset += float(seconds)

    # -- stats ----------------------------------------------------------------------------
    def count(self, provider: str, what: str, n: int = 1) -> None:
        with self.lock:
            bucket = self.counts[provider] if provider in ("anthropic", "gemini", "openai") else self.counts
            bucket[what] = bucket.get(what, 0) + n

    def count_fault(self, what: str) -> None:
        with self.lock:
            self.counts["faults"][what] += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.counts.items()}

    # -- faults ---------------------------------------------------------------------------
    def set_faults(self, **changes: Any) -> Faults:
        with self.lock:
            if "processing_seconds" in changes:
                self.processing_seconds = float(changes.pop("processing_seconds"))
            self.faults = Faults.build(self.faults, **changes)
            self.fault_generation += 1
            return self.faults

    def take_scripted(self, provider: str, op: str):
        """Pop the next scripted reply for this call, if any."""
        with self.lock:
            key = self.faults.queue_key(provider, op)
            if key is None:
                return None
            queue = self.faults.http_errors[key]
            self.faults = Faults.build(self.faults, http_errors={**self.faults.http_errors, key: queue[1:]})
            return queue[0]

    def take_one_shot(self, name: str) -> bool:
        """Consume one unit of a counting fault (drop_create_response, truncate_results)."""
        with self.lock:
            left = getattr(self.faults, name)
            if left <= 0:
                return False
            self.faults = Faults.build(self.faults, **{name: left - 1})
            return True

    # -- batches --------------------------------------------------------------------------
    def add_batch(self, provider: str, batch_id: str, items: list[Item], **extra: Any) -> Batch:
        with self.lock:
            faults = self.faults
            now = self.now()
            self.seq += 1
            p = self.processing_seconds
            batch = Batch(
                provider=provider, id=batch_id, seq=self.seq, created=now, ends=now + p,
                processing_seconds=p, items=items,
                fates=plan_fates(batch_id, [it.key for it in items], faults),
                obey=faults.obey_injections, shuffle=faults.results_out_of_order,
                bad=({i: k for i, it in enumerate(items) if (k := faults.bad_reply_for(it.url))}
                     if faults.bad_replies else {}),
                outcome=faults.batch_outcome, **extra,
            )
            if faults.batch_outcome is not None:  # applies to the next batch only
                self.faults = Faults.build(faults, batch_outcome=None)
            if batch.outcome == "cancel":
                batch.cancel_at = now + p / 2
            elif batch.outcome == "stuck":  # never starts: only a cancel ends it
                batch.ends = math.inf
            self.batches[batch_id] = batch
            bucket = self.counts[provider]
            bucket["batches_created"] += 1
            bucket["requests_created"] += len(items)
            return batch

    def get_batch(self, provider: str, batch_id: str) -> Batch | None:
        with self.lock:
            batch = self.batches.get(batch_id)
            return batch if batch is not None and batch.provider == provider else None

    def list_batches(self, provider: str) -> list[Batch]:
        """Newest first."""
        with self.lock:
            found = [b for b in self.batches.values() if b.provider == provider]
        return sorted(found, key=lambda b: b.seq, reverse=True)

    def delete_batch(self, batch_id: str) -> None:
        with self.lock:
            self.batches.pop(batch_id, None)

    # -- files ----------------------------------------------------------------------------
    def new_path(self, prefix: str) -> str:
        os.makedirs(self.tmpdir, exist_ok=True)  # stop() removed it if the emulator restarted
        fd, path = tempfile.mkstemp(prefix=prefix, dir=self.tmpdir)
        os.close(fd)
        return path

    def add_file(self, f: StoredFile) -> StoredFile:
        with self.lock:
            self.files[f.name] = f
            return f

    def get_file(self, name: str) -> StoredFile | None:
        with self.lock:
            return self.files.get(name)

    def list_files(self, provider: str = "gemini") -> list[StoredFile]:
        """Newest first; each API lists only its own files."""
        with self.lock:
            found = [f for f in self.files.values() if f.provider == provider]
        return sorted(found, key=lambda f: f.created, reverse=True)

    def delete_file(self, name: str) -> bool:
        with self.lock:
            f = self.files.pop(name, None)
        if f is not None:
            _unlink(f.path)
        return f is not None

    def add_upload(self, session: UploadSession) -> None:
        with self.lock:
            self.uploads[session.id] = session

    def get_upload(self, session_id: str) -> UploadSession | None:
        with self.lock:
            return self.uploads.get(session_id)

    def end_upload(self, session_id: str) -> None:
        with self.lock:
            self.uploads.pop(session_id, None)

    # -- lifecycle ------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = tempfile.mkdtemp(prefix="seobatch-emulator-")
            self._reset_data()
            self.faults = self.initial_faults
            self.processing_seconds = self.initial_processing
            self.offset = 0.0
            self.fault_generation += 1

    def close(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def new_anthropic_id() -> str:
    return "msgbatch_01" + new_id(_BASE58, 22)


def new_gemini_id() -> str:
    return new_id(_LOWER, 24)


def new_openai_id(prefix: str) -> str:
    """``batch_…`` / ``file-…`` / ``req_…``: a prefix and 24 base58-ish characters."""
    return prefix + new_id(_BASE58, 24)
