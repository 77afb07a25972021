"""The Audit page's overviews, computed once per scope and data version, in the background.

Judging a site takes seconds per 10,000 pages, so the page never does it in a request:
the first request for a (scope, job) starts ``seobatch.audit.run_audit`` in a thread and
answers at once ("computing…"); a reload or a second user joins that run. The result is
kept with the data version it was computed from (``data_version``: one small query), and
served until the version changes. Each check's page URLs are kept too, sorted, so paging
through a check reads memory instead of judging the site again, up to ``MAX_URL_BYTES`` per
overview (beyond it the largest lists are dropped and their pages stream as before).

Bounded: at most ``MAX_ENTRIES`` overviews (least recently used dropped first, never a
running one) and ``MAX_RUNNING`` audits judging at once (the others wait their turn).
"""

from __future__ import annotations

import bisect
import logging
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Any, overload

from peewee import fn

from .. import audit
from ..db import database, utcnow
from ..errors import SeobatchError
from ..logs import redact
from ..models import Page, PageRevision, SeoBatchJob

log = logging.getLogger(__name__)

#: Overviews kept (one per scope and job): the published values, live, a job.
MAX_ENTRIES = 3
#: Bytes of page URLs kept per overview over all its checks (a URL's UTF-8 bytes and an
#: 8-byte offset: 2.3 million URLs of 35 characters, a million-page site's two largest
#: checks). Sorting one check at its end takes a bytes object per URL for a moment.
MAX_URL_BYTES = 96 << 20
_OFFSET_BYTES = 8
_END = b"\x00"  # ends each URL while collecting: no URL has one (PostgreSQL text cannot)
#: Audits judging at once (each holds a CPU while it judges).
MAX_RUNNING = 2

Key = tuple[str, int | None]


@dataclass
class Overview:
    """One (scope, job)'s audit: running, done (``report``) or failed (``error``)."""

    key: Key
    version: tuple[Any, ...]
    #: The pages in scope when it started (the "computing the audit of N pages" line).
    pages: int
    started: datetime
    report: dict[str, Any] | None = None
    error: str | None = None
    #: Per check, its pages' URLs in URL order; a check missing here streams (over MAX_URL_BYTES).
    urls: dict[str, SortedUrls] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def page_of(self, check: str, after: str, limit: int) -> tuple[list[str], str | None] | None:
        """``limit`` URLs of ``check`` after the cursor ``after`` and the next cursor, or None
        when this check's URLs were not kept."""
        urls = self.urls.get(check)
        if urls is None:
            return None
        start = bisect.bisect_right(urls, after) if after else 0
        page = urls[start:start + max(1, limit)]
        more = start + len(page) < len(urls)
        return page, page[-1] if more and page else None


class SortedUrls(Sequence[str]):
    """URLs in sorted order, packed: their UTF-8 bytes end to end and an offset each
    (~40 bytes a URL of 33 characters, where a list of str takes ~90)."""

    def __init__(self, packed: bytes | bytearray) -> None:
        """``packed``: UTF-8 URLs (``surrogatepass``, whose byte order is str's code point
        order), each ended by a NUL; sorted here one check at a time, repeats dropped."""
        urls = bytes(packed).split(_END)[:-1]
        urls.sort()  # in place, and repeats dropped side by side: no set of a million URLs
        urls = [u for i, u in enumerate(urls) if i == 0 or u != urls[i - 1]]
        self._blob = b"".join(urls)
        self._ends = array("Q", accumulate(len(u) for u in urls))

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        start = self._ends[i - 1] if i > 0 else 0
        return self._blob[start:self._ends[i]].decode("utf-8", "surrogatepass")


class _Collector:
    """Each check's URLs as ``run_audit`` finds them, packed as they come (no object per
    URL), within ``cap`` bytes over all checks: past it the largest goes (its check then
    streams), so the small ones stay served. A URL with a NUL in it streams its check."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lists: dict[str, bytearray] = {}
        self.dropped: set[str] = set()
        self.total = 0

    def __call__(self, finding: audit.Finding) -> None:
        url, check = finding[0], finding[1]
        if check in self.dropped:
            return
        encoded = url.encode("utf-8", "surrogatepass")
        if _END in encoded:
            self._drop(check)
            return
        self.lists.setdefault(check, bytearray()).extend(encoded + _END)
        self.total += len(encoded) + _OFFSET_BYTES
        if self.total > self.cap:
            self._drop(max(self.lists, key=lambda name: len(self.lists[name])))

    def _drop(self, check: str) -> None:
        packed = self.lists.pop(check, bytearray())
        self.total -= len(packed) + (_OFFSET_BYTES - 1) * packed.count(_END)
        self.dropped.add(check)

    def packed(self) -> dict[str, SortedUrls]:
        out = {}
        while self.lists:  # one check at a time: its unsorted bytes go as its sorted copy comes
            check, packed = self.lists.popitem()
            out[check] = SortedUrls(packed)
            del packed
        return out


def data_version(scope: str, job: int | None) -> tuple[tuple[str, ...], int]:
    """What the audit of ``scope`` reads, in one small query: (a fingerprint that changes
    whenever an audited value changes, the pages in scope).

    Every writer of the pages' values or inputs (import, approve, rollback) sets their
    ``updated_at`` to now; a results stage's chunk inserts revisions (the newest id moves);
    a delete or an insert changes the count. A job's items change only with its row
    (status, counts, and the ``updated_at`` of the progress write after every chunk)."""
    columns: list[Any] = [fn.COUNT(Page.id), fn.COUNT(Page.seo_title), fn.MAX(Page.id), fn.MAX(Page.updated_at),
                          PageRevision.select(fn.MAX(PageRevision.id))]
    if scope == "job":
        columns += [SeoBatchJob.select(c).where(SeoBatchJob.id == job) for c in (
            SeoBatchJob.total_pages, SeoBatchJob.status, SeoBatchJob.updated_at, SeoBatchJob.completed_at,
            SeoBatchJob.succeeded_count, SeoBatchJob.errored_count)]
    row: tuple[Any, ...] = Page.select(*columns).tuples().get()  # type: ignore[assignment]  # .tuples()
    pages = {"published": row[1], "live": row[0]}.get(scope, row[5] if scope == "job" else row[0])
    return tuple(str(v) for v in row), int(pages or 0)


class Busy(SeobatchError):
    """Every slot holds a running audit: a new one would be unbounded."""


class AuditCache:
    """The overviews of one web process (``create_app`` makes one; threads share it).

    ``on_start`` is called in the audit's thread as it starts judging (a log line by
    default; the tests count runs and hold one open with it)."""

    def __init__(self, *, secrets: tuple[str, ...] = (), max_entries: int = MAX_ENTRIES,
                 max_url_bytes: int = MAX_URL_BYTES, max_running: int = MAX_RUNNING) -> None:
        self.secrets = secrets
        self.max_entries = max_entries
        self.max_url_bytes = max_url_bytes
        self.on_start: Callable[[Overview], None] = _log_start
        self._entries: OrderedDict[Key, Overview] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_running)

    def get(self, scope: str, job: int | None, args: dict[str, Any], *, retry: bool = False) -> Overview:
        """The overview of (scope, job) for the data as it is now: a running one is joined, a
        done one of the same data version served; otherwise a new run starts. ``retry``
        starts again after a failure. ``args`` are ``run_audit``'s."""
        version, pages = data_version(scope, job)
        key = (scope, job)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.running or (entry.version == version and not (retry and entry.error))):
                self._entries.move_to_end(key)
                return entry
            self._entries.pop(key, None)
            self._make_room()
            entry = self._entries[key] = Overview(key, version, pages, utcnow())
        threading.Thread(target=self._run, args=(entry, args), name=f"seobatch-audit-{scope}", daemon=True).start()
        return entry

    def _make_room(self) -> None:
        """Drop the least recently used finished overviews down to one free slot."""
        while len(self._entries) >= self.max_entries:
            idle = next((k for k, e in self._entries.items() if not e.running), None)
            if idle is None:
                raise Busy(f"{len(self._entries)} audits are running")
            del self._entries[idle]

    def _run(self, entry: Overview, args: dict[str, Any]) -> None:
        try:
            with self._slots:
                self.on_start(entry)
                collect = _Collector(self.max_url_bytes)
                report = audit.run_audit(on_finding=collect, **args)
                entry.urls = collect.packed()
                entry.report = report.to_dict()
        except Exception as exc:  # noqa: BLE001 - any failure ends on the page as one line, logged in full
            log.exception("audit_failed scope=%s job=%s", *entry.key)
            entry.error = one_line(exc, self.secrets)
        finally:
            if not database.is_closed():  # run_audit closes its own; the hook may have opened one
                database.close()
            entry.done.set()

    def join(self, timeout: float = 60.0) -> bool:
        """Wait for every running audit (tests; a clean stop). False if one still runs."""
        with self._lock:
            running = [e for e in self._entries.values() if e.running]
        return all(e.done.wait(timeout) for e in running)


def one_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """The failure as the page shows it: its kind and its first line, redacted, clipped."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return redact(text, secrets)[:300]


def _log_start(entry: Overview) -> None:
    log.info("audit_started scope=%s job=%s pages=%d", entry.key[0], entry.key[1], entry.pages)
