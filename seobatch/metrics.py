"""Job metrics for Prometheus, read from the database when scraped.

What is exposed (every value is a query at scrape time, so any process that can reach
the database reports the same numbers, and nothing is lost when a worker restarts):

=======================================  =====================================================
``seobatch_jobs{status,model,provider}``  jobs in each status (gauge; 0 for absent statuses)
``seobatch_job_pages{…}``                 pages in those jobs (gauge)
``seobatch_items_total{outcome,…}``       items of completed jobs: succeeded/errored/expired
``seobatch_job_turnaround_seconds{…}``    histogram of submitted → completed, completed jobs
``seobatch_cost_usd_total{model,…}``      cost of completed jobs at batch prices, as recorded
``seobatch_cost_unknown_jobs_total{…}``   completed jobs whose cost is unknown (no price)
``seobatch_last_completed_timestamp_seconds{model,provider}``  when a job last completed
``seobatch_oldest_active_job_seconds{status}``  time since the oldest active job last moved
``seobatch_jobs_all_errored{model,…}``    completed jobs without one success and with errors
``seobatch_events_undelivered``           outbox events committed but not yet delivered
``seobatch_events_failed``                 outbox events given up on after their last retry
``seobatch_database_up``                  1 when the last scrape could read the database
=======================================  =====================================================

Three ways to serve them:

- **In the workers, next to Dramatiq's own metrics**: ``actors/metrics.py`` (the
  Dramatiq side) adds a subclass of Dramatiq's ``Prometheus`` middleware whose
  exposition server (a Dramatiq fork, on ``dramatiq_prom_host``:``dramatiq_prom_port``,
  default ``0.0.0.0:9191``) serves Dramatiq's per-process metrics *and* these job
  metrics on the same ``/metrics``.
- **On their own**: ``seobatch metrics --port 9192`` (e.g. next to the clock process).
- **Once, as text**: ``seobatch metrics --once``.

``prometheus-client`` is an optional dependency (``pip install 'seobatch[metrics]'``):
without it a worker logs one warning at boot and runs without metrics. This module never
imports Dramatiq.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from peewee import Case, fn

from . import db as _db
from . import jobmeta as jm
from . import outbox
from .config import Settings
from .db import utcnow
from .jobmeta import ACTIVE_STATUSES, STATUSES, ItemStatus, JobStatus
from .models import SeoBatchJob
from .routing import provider_for_model

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)

MISSING = (
    "prometheus-client is not installed: job metrics are off "
    "(install them with: pip install 'seobatch[metrics]')"
)
#: Turnaround buckets, seconds: batches take minutes to a day.
TURNAROUND_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800)
DEFAULT_PORT = 9192
#: Labels of the per-model families.
MODEL_LABELS = ["model", "provider"]


def available() -> bool:
    """True when ``prometheus_client`` is installed.

    Looks without importing: Dramatiq's middleware needs the first import of
    ``prometheus_client`` in a worker to happen after it set ``PROMETHEUS_MULTIPROC_DIR``
    (the library picks its multi-process mode at import).
    """
    try:
        return importlib.util.find_spec("prometheus_client") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class _ModelTotals:
    """What one model's completed jobs add up to (one row of the aggregate query)."""

    model: str
    succeeded: int
    errored: int
    expired: int
    cost_usd: float  #: sum of the recorded costs
    cost_unknown: int  #: jobs without a recorded cost (no price)
    turnarounds: int  #: jobs with both stamps, so with a turnaround
    turnaround_seconds: float  #: their sum
    buckets: tuple[int, ...]  #: cumulative count per ``TURNAROUND_BUCKETS`` bound
    last_completed: datetime | None

    def outcomes(self) -> dict[ItemStatus, int]:
        return {
            ItemStatus.SUCCEEDED: self.succeeded,
            ItemStatus.ERRORED: self.errored,
            ItemStatus.EXPIRED: self.expired,
        }


class JobCollector:
    """A Prometheus collector that reads the job metrics from the database at each scrape.

    Every family comes from a query that aggregates in the database (``GROUP BY``), so a
    scrape runs the same few queries and holds a few rows per model, however many jobs
    there are. It opens (and closes) its own connection in the scraping thread; the
    database must have been configured with ``seobatch.db.configure`` in this process.
    ``settings`` name the compatible endpoints' model prefixes, so their jobs are labelled
    ``openai`` rather than ``unknown``.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def _provider(self, model: str) -> str:
        return provider_for_model(model, self._settings) or "unknown"

    def describe(self) -> list[Any]:
        return []  # unchecked collector: names are documented in the module docstring

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily  # optional dependency, imported late (see available())

        up = GaugeMetricFamily(
            "seobatch_database_up", "1 when the last scrape could read the seobatch database."
        )
        try:
            with _db.connection():
                families = list(self._families())
        except Exception as exc:  # a scrape must answer even when the database does not
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("metrics: cannot read the database: %s", first)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from families
        yield up

    def _families(self) -> Iterator[Any]:
        now = utcnow()
        yield from self._job_families()
        totals = _completed_totals()
        yield self._items_family(totals)
        yield self._turnaround_family(totals)
        yield from self._cost_families(totals)
        yield self._last_completed_family(totals)
        yield self._oldest_active_family(now)
        yield self._all_errored_family()
        yield from self._outbox_families()

    def _job_families(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily  # optional dependency, imported late (see available())

        labels = ["status", "model", "provider"]
        jobs = GaugeMetricFamily("seobatch_jobs", "Jobs in each status.", labels=labels)
        pages = GaugeMetricFamily("seobatch_job_pages", "Pages in the jobs of each status.",
                                  labels=labels)
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        rows = (
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.model, fn.COUNT(SeoBatchJob.id),
                               fn.SUM(SeoBatchJob.total_pages))
            .group_by(SeoBatchJob.status, SeoBatchJob.model)
        )
        for status, model, n, total in _tuples(rows):
            counts[(status, model)] = (n, int(total or 0))
        for model in sorted({m for _, m in counts}):
            for status in STATUSES:  # absent statuses are 0, so alerts see a series
                n, total = counts.get((status, model), (0, 0))
                jobs.add_metric([status, model, self._provider(model)], n)
                pages.add_metric([status, model, self._provider(model)], total)
        yield jobs
        yield pages

    def _items_family(self, totals: list[_ModelTotals]) -> Any:
        from prometheus_client.core import CounterMetricFamily  # optional dependency, imported late (see available())

        items = CounterMetricFamily(
            "seobatch_items", "Items of completed jobs by outcome.",
            labels=["outcome", "model", "provider"],
        )
        for t in totals:
            for outcome, n in t.outcomes().items():
                items.add_metric([outcome, t.model, self._provider(t.model)], n)
        return items

    def _turnaround_family(self, totals: list[_ModelTotals]) -> Any:
        from prometheus_client.core import HistogramMetricFamily  # optional dependency, imported late (see available())

        turnaround = HistogramMetricFamily(
            "seobatch_job_turnaround_seconds",
            "Seconds from submission to completion of completed jobs.", labels=MODEL_LABELS,
        )
        for t in totals:
            buckets = [(_bound(b), n) for b, n in zip(TURNAROUND_BUCKETS, t.buckets, strict=True)]
            buckets.append(("+Inf", t.turnarounds))
            turnaround.add_metric([t.model, self._provider(t.model)], buckets, t.turnaround_seconds)
        return turnaround

    def _cost_families(self, totals: list[_ModelTotals]) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily  # optional dependency, imported late (see available())

        cost = CounterMetricFamily(
            "seobatch_cost_usd", "Cost of completed jobs at batch prices, USD.", labels=MODEL_LABELS
        )
        unknown = CounterMetricFamily(
            "seobatch_cost_unknown_jobs", "Completed jobs whose cost is unknown (no price).",
            labels=MODEL_LABELS,
        )
        for t in totals:
            cost.add_metric([t.model, self._provider(t.model)], round(t.cost_usd, 6))
            unknown.add_metric([t.model, self._provider(t.model)], t.cost_unknown)
        yield cost
        yield unknown

    def _last_completed_family(self, totals: list[_ModelTotals]) -> Any:
        from prometheus_client.core import GaugeMetricFamily  # optional dependency, imported late (see available())

        last = GaugeMetricFamily(
            "seobatch_last_completed_timestamp_seconds",
            "Unix time at which a job of this model last completed.", labels=MODEL_LABELS,
        )
        for t in totals:
            if t.last_completed is not None:
                last.add_metric([t.model, self._provider(t.model)], _epoch(t.last_completed))
        return last

    def _oldest_active_family(self, now: datetime) -> Any:
        from prometheus_client.core import GaugeMetricFamily  # optional dependency, imported late (see available())

        oldest = GaugeMetricFamily(
            "seobatch_oldest_active_job_seconds",
            "Seconds since the oldest job in this active status last changed (stuck jobs).",
            labels=["status"],
        )
        stale: dict[str, datetime] = {
            status: since for status, since in _tuples(
                SeoBatchJob.select(SeoBatchJob.status, fn.MIN(SeoBatchJob.updated_at))
                .where(SeoBatchJob.status.in_(ACTIVE_STATUSES))
                .group_by(SeoBatchJob.status)
            )
        }
        for status in ACTIVE_STATUSES:
            since = stale.get(status)
            oldest.add_metric([status], max(0.0, (now - since).total_seconds()) if since else 0)
        return oldest

    def _all_errored_family(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily  # optional dependency, imported late (see available())

        wiped = GaugeMetricFamily(
            "seobatch_jobs_all_errored",
            "Completed jobs in which no item succeeded and some errored (nothing was written).",
            labels=MODEL_LABELS,
        )
        rows = (
            SeoBatchJob.select(SeoBatchJob.model, fn.COUNT(SeoBatchJob.id))
            .where((SeoBatchJob.status == JobStatus.COMPLETED) & (SeoBatchJob.succeeded_count == 0)
                   & (SeoBatchJob.errored_count > 0))
            .group_by(SeoBatchJob.model)
        )
        for model, n in _tuples(rows):
            wiped.add_metric([model, self._provider(model)], n)
        return wiped

    def _outbox_families(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily  # optional dependency, imported late (see available())

        pending, failed = outbox.backlog()
        undelivered = GaugeMetricFamily(
            "seobatch_events_undelivered",
            "Lifecycle events committed but not yet delivered to subscribers (failed ones excluded).",
        )
        undelivered.add_metric([], pending)
        yield undelivered
        failed_events = GaugeMetricFamily(
            "seobatch_events_failed",
            "Lifecycle events a subscriber kept raising on: retried SEOBATCH_EVENT_MAX_ATTEMPTS times, then given up.",
        )
        failed_events.add_metric([], failed)
        yield failed_events


def _completed_totals() -> list[_ModelTotals]:
    """Completed jobs summed per model by one ``GROUP BY`` query, in model order."""
    job = SeoBatchJob
    seconds = _db.seconds_between(job.submitted_at, job.completed_at)
    recorded = _recorded_cost()
    known = Case(None, [(recorded.is_null(False), 1)], 0)
    rows = (
        job.select(
            job.model,
            fn.SUM(job.succeeded_count), fn.SUM(job.errored_count), fn.SUM(job.expired_count),
            fn.SUM(Case(None, [(recorded.is_null(False), recorded)], 0.0)),
            fn.COUNT(job.id) - fn.SUM(known),
            fn.COUNT(seconds), fn.SUM(seconds),
            *(fn.SUM(Case(None, [(seconds <= bound, 1)], 0)) for bound in TURNAROUND_BUCKETS),
            fn.MAX(job.completed_at),
        )
        .where(job.status == JobStatus.COMPLETED)
        .group_by(job.model)
        .order_by(job.model)
    )
    totals = []
    for model, ok, err, exp, cost, unknown, n, total, *rest in _tuples(rows):
        *buckets, last = rest
        totals.append(_ModelTotals(
            model=model, succeeded=int(ok or 0), errored=int(err or 0), expired=int(exp or 0),
            cost_usd=float(cost or 0), cost_unknown=int(unknown or 0),
            turnarounds=int(n or 0), turnaround_seconds=float(total or 0),
            buckets=tuple(int(b or 0) for b in buckets), last_completed=last,
        ))
    return totals


def _recorded_cost() -> Any:
    """SQL: ``metadata.cost_usd`` when it is a number (NULL for "unknown", missing, bool)."""
    meta, key = SeoBatchJob.metadata, jm.COST_USD
    if _db.is_postgres():
        value = fn.jsonb_extract_path(meta, key)
        number = fn.jsonb_extract_path_text(meta, key).cast("double precision")
        return Case(None, [(fn.jsonb_typeof(value) == "number", number)], None)
    path = "$." + key
    return Case(None, [(fn.json_type(meta, path).in_(["integer", "real"]),
                        fn.json_extract(meta, path))], None)


def _tuples(query: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a peewee query as tuples (its type stubs say model instances)."""
    return iter(query.tuples())


def _bound(value: float) -> str:
    return f"{float(value)}"


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


# -- registries and servers --------------------------------------------------------------------


def registry(*, multiprocess_dir: str | None = None, settings: Settings | None = None) -> CollectorRegistry:
    """A registry with the job metrics, plus Dramatiq's per-process metrics from
    ``multiprocess_dir`` when given (the directory Dramatiq's middleware writes to)."""
    from prometheus_client import CollectorRegistry  # optional dependency, imported late (see available())

    reg = CollectorRegistry(auto_describe=False)
    reg.register(JobCollector(settings))
    if multiprocess_dir:
        from prometheus_client import multiprocess  # optional dependency, imported late

        multiprocess.MultiProcessCollector(reg, path=multiprocess_dir)
    return reg


def exposition(*, multiprocess_dir: str | None = None, settings: Settings | None = None) -> bytes:
    """The metrics as Prometheus text, once (``seobatch metrics --once``, tests)."""
    from prometheus_client import generate_latest  # optional dependency, imported late

    return generate_latest(registry(multiprocess_dir=multiprocess_dir, settings=settings))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("metrics: " + format, *args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def make_metrics_server(
    host: str = "0.0.0.0", port: int = DEFAULT_PORT, *, multiprocess_dir: str | None = None,
    settings: Settings | None = None,
) -> WSGIServer:
    """An HTTP server answering ``GET /metrics`` (any path) with the metrics; not started.

    Call ``serve_forever()`` on it, or run that in a thread; ``server_port`` tells the
    port when ``port`` was 0.
    """
    from prometheus_client import make_wsgi_app  # optional dependency, imported late (see available())

    app = make_wsgi_app(registry(multiprocess_dir=multiprocess_dir, settings=settings))
    return make_server(host, port, app, _Server, handler_class=_QuietHandler)


__all__ = [
    "DEFAULT_PORT",
    "JobCollector",
    "available",
    "exposition",
    "make_metrics_server",
    "registry",
]
