"""The progress display: redraws in place on a terminal, plain throttled lines elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from seobatch import progress
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.progress import JobProgress, Progress
from seobatch.term import use_color


class FakeStream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty
        self.encoding_ = "utf-8"

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_job(status: str = "processing", items: dict[str, int] | None = None, **fields) -> SeoBatchJob:
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status=status, **fields)
    n = 0
    for item_status, count in (items or {}).items():
        for _ in range(count):
            n += 1
            page = Page(url=f"https://example.com/{job.id}/{n}", title="t", content="c")
            page.save()
            SeoBatchItem.create(job=job, page=page, custom_id=f"p{page.id}", status=item_status)
    return job


# -- the display on a terminal ------------------------------------------------------------


def test_a_terminal_gets_one_line_redrawn_in_place():
    stream = FakeStream(tty=True)
    display = Progress(stream, color=False)
    display.update(1, stage="processing", done=10, total=100, elapsed=5)
    display.update(1, stage="processing", done=60, total=100, elapsed=65)
    display.finish()
    out = stream.getvalue()
    # Then the second draw returns to column 1 and clears the line instead of adding one
    assert out.count("\n") == 1 and out.endswith("\n")
    assert "\r\x1b[2K" in out
    assert "60/100 items (60%)" in out and "1m05s" in out
    assert "[████████████░░░░░░░░]" in out


def test_a_terminal_with_several_jobs_moves_the_cursor_up_over_all_of_them():
    stream = FakeStream(tty=True)
    display = Progress(stream, color=False)
    display.show(JobProgress(1, "processing", 1, 10, 1.0), JobProgress(2, "collecting", 0, 0, 1.0))
    display.show(JobProgress(1, "completed", 10, 10, 2.0, succeeded=9, errored=1))
    out = stream.getvalue()
    assert "\x1b[1F" in out  # up one line: back to the first of the two
    assert "collecting pages" in out
    assert "9 succeeded, 1 errored, 0 expired" in out


def test_colours_only_on_a_terminal_without_no_color():
    assert use_color(FakeStream(tty=True), env={}) is True
    assert use_color(FakeStream(tty=True), env={"NO_COLOR": "1"}) is False
    assert use_color(FakeStream(tty=False), env={}) is False
    stream = FakeStream(tty=True)
    Progress(stream, color=True).update(3, stage="failed", total=0, elapsed=1, error="boom")
    assert "\x1b[31m" in stream.getvalue()  # failed is red


def test_log_lines_written_during_the_display_appear_above_it(root_handler_stream):
    stream = root_handler_stream(FakeStream(tty=True))
    display = Progress(stream, color=False)
    with display.capture_logging():
        display.update(1, stage="processing", done=1, total=4, elapsed=1)
        logging.getLogger("seobatch.jobs").warning("job_transition job_id=1 to=completed")
        display.update(1, stage="processing", done=2, total=4, elapsed=2)
    display.finish()
    out = stream.getvalue()
    # The display was erased before the log line and drawn again after it
    log_at = out.index("job_transition job_id=1")
    assert out.rindex("\x1b[J", 0, log_at) > out.index("1/4 items")
    assert out.index("1/4 items", log_at) > log_at
    assert root_handler_stream.handler.stream is stream  # the handler was given back


@pytest.fixture
def root_handler_stream():
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)

    def use(stream):
        handler.setStream(stream)
        return stream

    use.handler = handler  # type: ignore[attr-defined]
    yield use
    root.removeHandler(handler)
    root.setLevel(old_level)


# -- the display elsewhere ----------------------------------------------------------------


def test_a_pipe_gets_plain_lines_throttled_and_without_escapes():
    stream = FakeStream(tty=False)
    clock = FakeClock()
    display = Progress(stream, throttle=5.0, clock=clock)
    display.update(1, stage="collecting", elapsed=0)
    display.update(1, stage="processing", done=0, total=100, elapsed=1)
    clock.now = 1.0
    display.update(1, stage="processing", done=10, total=100, elapsed=2)  # too soon
    clock.now = 2.0
    display.update(1, stage="processing", done=20, total=100, elapsed=3)  # too soon
    clock.now = 6.0
    display.update(1, stage="processing", done=50, total=100, elapsed=7)  # 5 s later: written
    clock.now = 6.5
    display.update(1, stage="completed", done=100, total=100, elapsed=8, succeeded=100)
    display.finish("done")
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()
    assert [line.split()[3] for line in lines[:-1]] == [
        "collecting", "processing", "processing", "completed"]
    assert "50/100 items (50%)" in lines[2]
    assert lines[-1] == "done"


def test_finish_on_a_pipe_writes_the_last_state_it_held_back():
    stream = FakeStream(tty=False)
    clock = FakeClock()
    display = Progress(stream, throttle=60, clock=clock)
    display.update(4, stage="processing", done=1, total=3, elapsed=1)
    display.update(4, stage="processing", done=2, total=3, elapsed=2)  # held back
    display.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "2/3 items" in lines[1]


# -- reading the database -----------------------------------------------------------------


def test_snapshot_counts_items_with_an_outcome_as_done(any_db):
    # Given a job being saved and one finished
    running = make_job("processing", {"pending": 3, "succeeded": 4, "errored": 1}, total_pages=8)
    ended = make_job("completed", total_pages=5, succeeded_count=4, errored_count=1)
    collecting = make_job("collecting", {"pending": 6})
    snaps = {s.job_id: s for s in progress.snapshot([running.id, ended.id, collecting.id, 999])}
    assert set(snaps) == {running.id, ended.id, collecting.id}
    assert (snaps[running.id].done, snaps[running.id].total) == (5, 8)
    assert (snaps[ended.id].done, snaps[ended.id].total, snaps[ended.id].finished) == (5, 5, True)
    assert (snaps[collecting.id].stage, snaps[collecting.id].total) == ("collecting", 6)


def test_watch_follows_jobs_until_they_end(any_db):
    # Given a job whose items finish while we watch
    job = make_job("processing", {"pending": 2}, total_pages=2)
    steps = iter([
        lambda: SeoBatchItem.update(status="succeeded").where(SeoBatchItem.job == job.id).execute(),
        lambda: job.mark_completed(succeeded=2),
    ])
    stream = FakeStream(tty=False)
    display = Progress(stream, throttle=0)
    # When we watch it (each "sleep" moves the work along)
    final = progress.watch([job.id], poll=0, display=display, sleep=lambda _: next(steps)())
    # Then it returns the finished snapshot and wrote each step as a line
    assert [(s.stage, s.done, s.succeeded) for s in final] == [("completed", 2, 2)]
    out = stream.getvalue()
    assert "0/2 items" in out and "2/2 items" in out and "2 succeeded" in out


def test_watch_stops_when_until_says_so_or_on_timeout(any_db):
    job = make_job("processing", {"pending": 1}, total_pages=1)
    calls = []
    final = progress.watch(
        lambda: [job.id], poll=0, stream=FakeStream(tty=False),
        until=lambda: calls.append(1) or len(calls) >= 3, sleep=lambda _: None,
    )
    assert len(calls) == 3 and final[0].stage == "processing"
    final = progress.watch([job.id], poll=0.01, stream=FakeStream(tty=False), timeout=0.05)
    assert final[0].stage == "processing"


def test_a_pipe_gets_a_heartbeat_line_during_a_long_unchanged_wait():
    stream = FakeStream(tty=False)
    clock = FakeClock()
    display = Progress(stream, throttle=5, heartbeat=60, clock=clock)
    display.update(1, stage="processing", done=0, total=10, elapsed=0)
    clock.now = 30
    display.update(1, stage="processing", done=0, total=10, elapsed=30)  # nothing new yet
    clock.now = 61
    display.update(1, stage="processing", done=0, total=10, elapsed=61)  # still alive
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].endswith("1m01s")


def test_snapshot_of_a_processing_job_uses_the_providers_counts(any_db):
    # Given a submitted job whose last poll saw 6 of 10 requests ended at the provider
    job = make_job("processing", {"pending": 10}, total_pages=10, metadata={
        "provider_counts": {"processing": 4, "succeeded": 5, "errored": 1}})
    (snap,) = progress.snapshot([job.id])
    assert (snap.done, snap.total) == (6, 10)
