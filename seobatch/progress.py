"""Progress of running jobs, for ``seobatch run --wait`` and the demo.

Two ways in:

``watch(job_ids, *, poll=0.5, stream=sys.stderr, until=None, timeout=None)``
    Read the jobs from the database every ``poll`` seconds and draw their progress
    until every one has ended (``completed``/``failed``), ``until()`` returns true, or
    ``timeout`` seconds pass. ``job_ids`` is a list, or a callable returning the current
    list (a run can split into more jobs while it collects). Returns the last
    ``snapshot``. The caller runs the pipeline elsewhere (worker threads, a broker);
    ``watch`` only reads. It needs the database configured in this thread::

        from seobatch import progress
        final = progress.watch([job.id], until=lambda: worker_crashed)

``Progress(stream=sys.stderr)``
    The display alone: ``.update(job_id=…, stage=…, done=…, total=…)`` per change and
    ``.finish()`` at the end, for code that knows its progress without the database.

On a terminal the display redraws in place (one line per job, ANSI cursor moves); on
anything else (a pipe, a CI log, ``2>file``) it writes plain lines, one per change of
stage and at most one every ``throttle`` seconds per job while items move.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from . import jobmeta as jm
from .db import utcnow
from .jobmeta import TERMINAL_STATUSES, ItemStatus, JobStatus
from .models import SeoBatchItem, SeoBatchJob
from .term import STATUS_STYLE, format_duration, isatty, style, use_color

BAR_WIDTH = 20
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class JobProgress:
    """Where one job stands: its stage (status), items done of total, seconds elapsed."""

    job_id: int
    stage: str
    done: int
    total: int
    elapsed: float
    model: str = ""
    succeeded: int = 0
    errored: int = 0
    expired: int = 0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.stage in TERMINAL_STATUSES


def snapshot(job_ids: Iterable[int], *, now: datetime | None = None) -> list[JobProgress]:
    """Read the progress of ``job_ids`` from the database: two queries, however many items.

    ``done`` counts items that have an outcome (succeeded, errored, expired, canceled);
    ``total`` is the job's page count once submitted, else the items collected so far.
    """
    ids = sorted(set(job_ids))
    if not ids:
        return []
    now = now or utcnow()
    jobs = list(
        SeoBatchJob.select(
            SeoBatchJob.id, SeoBatchJob.model, SeoBatchJob.status, SeoBatchJob.total_pages,
            SeoBatchJob.succeeded_count, SeoBatchJob.errored_count, SeoBatchJob.expired_count,
            SeoBatchJob.metadata, SeoBatchJob.created_at, SeoBatchJob.completed_at,
        ).where(SeoBatchJob.id.in_(ids)).order_by(SeoBatchJob.id)
    )
    counts = _item_counts([j.id for j in jobs if j.status not in TERMINAL_STATUSES])
    return [
        _ended(job, now) if job.status in TERMINAL_STATUSES else _active(job, counts.get(job.id, {}), now)
        for job in jobs
    ]


def _item_counts(active: list[int]) -> dict[int, dict[str, int]]:
    """Items per status of each active job (one grouped query; none when nothing is active)."""
    if not active:
        return {}
    return {
        job_id: {status: n for status, (n, _, _) in by_status.items()}
        for job_id, by_status in SeoBatchItem.counts_by_job(active).items()
    }


def _ended(job: SeoBatchJob, now: datetime) -> JobProgress:
    """A completed or failed job: its own recorded counts are the truth."""
    done = (job.succeeded_count or 0) + (job.errored_count or 0) + (job.expired_count or 0)
    return _progress(job, done=done, total=job.total_pages or done, end=job.completed_at or now)


def _active(job: SeoBatchJob, by_status: dict[str, int], now: datetime) -> JobProgress:
    """A job still moving: its items' outcomes so far, or the provider's counts if ahead."""
    collected = sum(by_status.values())
    done = collected - by_status.get(ItemStatus.PENDING, 0)
    total = max(job.total_pages or 0, collected)
    # While the provider works, its own counts (recorded by each poll) move first.
    reported = (job.metadata or {}).get(jm.PROVIDER_COUNTS)
    if job.status == JobStatus.PROCESSING and isinstance(reported, dict):
        ended = sum(v for k, v in reported.items() if k != PROVIDER_STILL_RUNNING and _count(v))
        done = max(done, min(ended, total))
    return _progress(job, done=done, total=total, end=now)


#: The key of ``metadata[PROVIDER_COUNTS]`` (the providers' count names, not a job status)
#: that counts the requests the provider has not ended yet.
PROVIDER_STILL_RUNNING = "processing"


def _progress(job: SeoBatchJob, *, done: int, total: int, end: datetime) -> JobProgress:
    return JobProgress(
        job_id=job.id, stage=job.status, done=done, total=total,
        elapsed=(end - job.created_at).total_seconds(), model=job.model,
        succeeded=job.succeeded_count or 0, errored=job.errored_count or 0,
        expired=job.expired_count or 0, error=(job.metadata or {}).get(jm.ERROR),
    )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class _AboveDisplay:
    """A stream for log handlers: each write goes above the live display."""

    def __init__(self, display: Progress) -> None:
        self.display = display

    def write(self, text: str) -> int:
        self.display.write_above(text)
        return len(text)

    def flush(self) -> None:
        self.display.stream.flush()


class Progress:
    """Draws the progress of one or more jobs on ``stream`` (see the module docstring).

    Parameters:
        stream: where to draw; ``sys.stderr`` by default, so stdout stays for results.
        tty: force the terminal (True) or plain-line (False) mode; default: ``stream.isatty()``.
        color: force colour on or off; default: a terminal without ``NO_COLOR``.
        throttle: plain mode writes at most one line per job per this many seconds
            while only the item count moves (a change of stage is always written).
        heartbeat: plain mode repeats an unchanged line after this many seconds, so a
            log shows the run is alive during a long provider wait.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        tty: bool | None = None,
        color: bool | None = None,
        throttle: float = 5.0,
        heartbeat: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = isatty(self.stream) if tty is None else tty
        self.color = (use_color(self.stream) if color is None else color) and self.tty
        self.throttle = throttle
        self.heartbeat = heartbeat
        self.clock = clock
        self.started = clock()
        self.jobs: dict[int, JobProgress] = {}
        self._last_line: dict[int, tuple[str, float, int]] = {}  # job → (stage, at, done)
        self._drawn = 0  # lines on screen from the last redraw (tty mode)
        self._finished = False
        self._unicode = "utf" in (getattr(self.stream, "encoding", None) or "utf-8").lower()
        self._lock = threading.RLock()  # worker threads log while we redraw

    # -- feeding -------------------------------------------------------------------------

    def update(
        self,
        job_id: int,
        *,
        stage: str,
        done: int = 0,
        total: int = 0,
        elapsed: float | None = None,
        model: str = "",
        **outcome: Any,
    ) -> None:
        """Record where ``job_id`` stands and redraw (tty) or maybe write a line (plain)."""
        if elapsed is None:
            elapsed = self.clock() - self.started
        self.show(JobProgress(job_id=job_id, stage=stage, done=done, total=total,
                              elapsed=elapsed, model=model, **outcome))

    def show(self, *snapshots: JobProgress) -> None:
        """Record one or more ``JobProgress`` values (what ``snapshot`` returns) and draw."""
        with self._lock:
            for snap in snapshots:
                self.jobs[snap.job_id] = snap
            if self.tty:
                self._redraw()
            else:
                for snap in snapshots:
                    self._maybe_line(snap)

    def finish(self, message: str | None = None) -> None:
        """Draw the final state, end the display, and write ``message`` if given."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            if self.tty:
                if self.jobs:
                    self._redraw()
            else:
                for snap in self.jobs.values():
                    last = self._last_line.get(snap.job_id)
                    if last is None or (last[0], last[2]) != (snap.stage, snap.done):
                        self._write_line(snap)
            if message:
                self.stream.write(message + "\n")
            self.stream.flush()

    @contextmanager
    def capture_logging(self) -> Iterator[None]:
        """While drawing in place, route log lines bound for our stream above the display.

        Without this a log record written by a worker thread would land at the end of a
        progress line and the next redraw would tear it apart.
        """
        if not self.tty:
            yield
            return
        patched = [
            h for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and h.stream is self.stream
        ]
        for handler in patched:
            handler.setStream(_AboveDisplay(self))
        try:
            yield
        finally:
            for handler in patched:
                handler.setStream(self.stream)

    def write_above(self, text: str) -> None:
        """Write ``text`` (a whole line or more) above the display and redraw it below."""
        with self._lock:
            self._clear()
            self.stream.write(text)
            if self.jobs and not self._finished:
                self._redraw()
            self.stream.flush()

    # -- rendering -----------------------------------------------------------------------

    def render_line(self, snap: JobProgress) -> str:
        """One job as one line: ``job 12 claude-… processing [███░░] 640/1,000 (64%) 1m05s``."""
        stage = style(f"{snap.stage:<10}", STATUS_STYLE.get(snap.stage, ""), enabled=self.color)
        parts = [f"job {snap.job_id}"]
        if snap.model:
            parts.append(snap.model)
        parts.append(stage)
        if snap.total:
            parts.append(self._bar(snap.done, snap.total))
            parts.append(f"{snap.done:,}/{snap.total:,} items ({100 * snap.done // snap.total}%)")
        elif snap.stage == JobStatus.COLLECTING:
            parts.append("collecting pages…" if self._unicode else "collecting pages...")
        else:
            parts.append(f"{snap.done:,} items")
        parts.append(format_duration(snap.elapsed))
        if snap.stage == JobStatus.COMPLETED:
            parts.append(
                f"{snap.succeeded:,} succeeded, {snap.errored:,} errored, {snap.expired:,} expired"
            )
        if snap.stage == JobStatus.FAILED and snap.error:
            parts.append(style(f"error: {snap.error}", "red", enabled=self.color))
        return "  ".join(parts)

    def _bar(self, done: int, total: int) -> str:
        full, empty = ("█", "░") if self._unicode else ("#", ".")
        filled = min(BAR_WIDTH, BAR_WIDTH * done // total) if total else 0
        return "[" + full * filled + empty * (BAR_WIDTH - filled) + "]"

    def _home(self) -> str:
        # Back to column 1 of the first line we drew ("\x1b[nF": up n lines, column 1).
        if not self._drawn:
            return ""
        return f"\x1b[{self._drawn - 1}F" if self._drawn > 1 else "\r"

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write(self._home() + "\x1b[J")  # erase to the end of the screen
            self._drawn = 0

    def _redraw(self) -> None:
        out = [self._home()]
        ordered = sorted(self.jobs.values(), key=lambda s: s.job_id)
        lines = [self._fit(self.render_line(s)) for s in ordered]
        out.append("\n".join("\x1b[2K" + line for line in lines))
        if self._finished:
            out.append("\n")
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = 0 if self._finished else len(lines)

    def _fit(self, line: str) -> str:
        # A wrapped line would break the cursor arithmetic of the next redraw.
        width = shutil.get_terminal_size((120, 24)).columns - 1
        plain = _ANSI.sub("", line)
        if len(plain) <= width:
            return line
        return plain[: max(1, width - 1)] + ("…" if self._unicode else "~")

    def _maybe_line(self, snap: JobProgress) -> None:
        last = self._last_line.get(snap.job_id)
        now = self.clock()
        if last is not None:
            stage, at, done = last
            if stage == snap.stage:
                if now - at < (self.heartbeat if done == snap.done else self.throttle):
                    return
        self._write_line(snap)

    def _write_line(self, snap: JobProgress) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"{stamp} {self.render_line(snap)}\n")
        self.stream.flush()
        self._last_line[snap.job_id] = (snap.stage, self.clock(), snap.done)


def watch(
    job_ids: Iterable[int] | Callable[[], Iterable[int]],
    *,
    poll: float = 0.5,
    stream: IO[str] | None = None,
    until: Callable[[], bool] | None = None,
    timeout: float | None = None,
    display: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[JobProgress]:
    """Draw the jobs' progress from the database until they have all ended.

    Parameters:
        job_ids: the jobs to follow, or a callable giving the current ids each poll.
        poll: seconds between database reads.
        stream: where to draw (``sys.stderr`` by default).
        until: stop early once this returns true (e.g. the worker died).
        timeout: stop after this many seconds even if jobs are still active.
        display: a ``Progress`` to draw on (tests; custom throttling).
    Returns:
        The last snapshot: one ``JobProgress`` per job, in id order.
    """
    display = display or Progress(stream)
    with display.capture_logging():
        return _watch(job_ids, display, poll, until, timeout, sleep)


def _watch(
    job_ids: Iterable[int] | Callable[[], Iterable[int]],
    display: Progress,
    poll: float,
    until: Callable[[], bool] | None,
    timeout: float | None,
    sleep: Callable[[float], None],
) -> list[JobProgress]:
    source = job_ids if callable(job_ids) else (lambda ids=list(job_ids): ids)
    deadline = None if timeout is None else time.monotonic() + timeout
    last: list[JobProgress] = []
    try:
        while True:
            last = snapshot(source())
            if last:
                display.show(*last)
            if last and all(s.finished for s in last):
                break
            if until is not None and until():
                # One more read: the stop condition often means "the work just ended".
                last = snapshot(source()) or last
                if last:
                    display.show(*last)
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            sleep(poll)
    finally:
        display.finish()
    return last


__all__ = ["JobProgress", "Progress", "snapshot", "watch"]
