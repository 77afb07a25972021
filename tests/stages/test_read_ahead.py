"""read_ahead: chunks made by a thread of their own, in order, errors and early exits handled."""

from __future__ import annotations

import threading
import time

import pytest

from seobatch.stages.results import read_ahead


def test_chunks_arrive_in_order_and_complete():
    with read_ahead(range(10), 3) as chunks:
        assert list(chunks) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_the_producer_runs_in_another_thread_and_never_far_ahead():
    made: list[int] = []
    threads: set[str] = set()

    def source():
        for i in range(100):
            threads.add(threading.current_thread().name)
            made.append(i)
            yield i

    with read_ahead(source(), 10, depth=2) as chunks:
        first = next(chunks)
        time.sleep(0.2)  # give the producer every chance to run ahead
        # one chunk taken, two queued, one more being built: never the whole source
        assert first == list(range(10)) and len(made) <= 41
    assert threads == {"seobatch-read-ahead"}


def test_an_error_in_the_source_is_raised_in_the_consumer_after_the_chunks_before_it():
    def source():
        yield from range(5)
        raise LookupError("stream broke")

    got = []
    with pytest.raises(LookupError, match="stream broke"), read_ahead(source(), 2) as chunks:
        for chunk in chunks:
            got.append(chunk)
    assert got == [[0, 1], [2, 3]]


def test_leaving_early_stops_the_producer_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            for i in range(10**9):
                yield i
        finally:
            closed.set()

    with read_ahead(source(), 5) as chunks:
        assert next(chunks) == [0, 1, 2, 3, 4]
    assert closed.wait(2)
