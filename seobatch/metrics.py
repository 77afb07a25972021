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
``seobatch_events_undelivered``           outbox events committed but not yet delivered
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
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from . import db as _db
from .db import utcnow
from .models import ACTIVE_STATUSES, STATUSES, SeoBatchEvent, SeoBatchJob, provider_for_model

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


class JobCollector:
    """A Prometheus collector that reads the job metrics from the database at each scrape.

    It opens (and closes) its own connection in the scraping thread; the database must
    have been configured with ``seobatch.db.configure`` in this process.
    """

    def describe(self) -> list[Any]:
        return []  # unchecked collector: names are documented in the module docstring

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

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
        from peewee import fn
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        now = utcnow()
        labels = ["status", "model", "provider"]
        jobs = GaugeMetricFamily("seobatch_jobs", "Jobs in each status.", labels=labels)
        pages = GaugeMetricFamily("seobatch_job_pages", "Pages in the jobs of each status.",
                                  labels=labels)
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        rows = (
            SeoBatchJob.select(SeoBatchJob.status, SeoBatchJob.model, fn.COUNT(SeoBatchJob.id),
                               fn.SUM(SeoBatchJob.total_pages))
            .group_by(SeoBatchJob.status, SeoBatchJob.model)
            .tuples()
        )
        for status, model, n, total in rows:
            counts[(status, model)] = (n, int(total or 0))
        for model in sorted({m for _, m in counts}):
            for status in STATUSES:  # absent statuses are 0, so alerts see a series
                n, total = counts.get((status, model), (0, 0))
                jobs.add_metric([status, model, _provider(model)], n)
                pages.add_metric([status, model, _provider(model)], total)
        yield jobs
        yield pages

        # Completed jobs, streamed once: outcomes, turnaround, cost, last completion.
        outcome_labels = ["outcome", "model", "provider"]
        items = CounterMetricFamily(
            "seobatch_items", "Items of completed jobs by outcome.", labels=outcome_labels
        )
        per_model: dict[str, dict[str, Any]] = defaultdict(lambda: {
            "succeeded": 0, "errored": 0, "expired": 0, "cost": 0.0, "unknown": 0,
            "turnarounds": [], "last": None,
        })
        completed = (
            SeoBatchJob.select(
                SeoBatchJob.model, SeoBatchJob.succeeded_count, SeoBatchJob.errored_count,
                SeoBatchJob.expired_count, SeoBatchJob.submitted_at, SeoBatchJob.completed_at,
                SeoBatchJob.metadata,
            )
            .where(SeoBatchJob.status == "completed")
            .tuples()
            .iterator()
        )
        for model, ok, err, exp, submitted, done, meta in completed:
            m = per_model[model]
            m["succeeded"] += ok or 0
            m["errored"] += err or 0
            m["expired"] += exp or 0
            cost = (meta or {}).get("cost_usd")
            if isinstance(cost, (int, float)) and not isinstance(cost, bool):
                m["cost"] += float(cost)
            else:
                m["unknown"] += 1
            if submitted and done:
                m["turnarounds"].append((done - submitted).total_seconds())
            if done and (m["last"] is None or done > m["last"]):
                m["last"] = done

        model_labels = ["model", "provider"]
        turnaround = HistogramMetricFamily(
            "seobatch_job_turnaround_seconds",
            "Seconds from submission to completion of completed jobs.", labels=model_labels,
        )
        cost = CounterMetricFamily(
            "seobatch_cost_usd", "Cost of completed jobs at batch prices, USD.", labels=model_labels
        )
        unknown = CounterMetricFamily(
            "seobatch_cost_unknown_jobs", "Completed jobs whose cost is unknown (no price).",
            labels=model_labels,
        )
        last = GaugeMetricFamily(
            "seobatch_last_completed_timestamp_seconds",
            "Unix time at which a job of this model last completed.", labels=model_labels,
        )
        for model in sorted(per_model):
            m, provider = per_model[model], _provider(model)
            for outcome in ("succeeded", "errored", "expired"):
                items.add_metric([outcome, model, provider], m[outcome])
            values = sorted(m["turnarounds"])
            buckets, i = [], 0
            for bound in TURNAROUND_BUCKETS:
                while i < len(values) and values[i] <= bound:
                    i += 1
                buckets.append((_bound(bound), i))
            buckets.append(("+Inf", len(values)))
            turnaround.add_metric([model, provider], buckets, sum(values))
            cost.add_metric([model, provider], round(m["cost"], 6))
            unknown.add_metric([model, provider], m["unknown"])
            if m["last"] is not None:
                last.add_metric([model, provider], _epoch(m["last"]))
        yield items
        yield turnaround
        yield cost
        yield unknown
        yield last

        oldest = GaugeMetricFamily(
            "seobatch_oldest_active_job_seconds",
            "Seconds since the oldest job in this active status last changed (stuck jobs).",
            labels=["status"],
        )
        stale = dict(
            SeoBatchJob.select(SeoBatchJob.status, fn.MIN(SeoBatchJob.updated_at))
            .where(SeoBatchJob.status.in_(ACTIVE_STATUSES))
            .group_by(SeoBatchJob.status)
            .tuples()
        )
        for status in ACTIVE_STATUSES:
            since = stale.get(status)
            oldest.add_metric([status], max(0.0, (now - since).total_seconds()) if since else 0)
        yield oldest

        undelivered = GaugeMetricFamily(
            "seobatch_events_undelivered",
            "Lifecycle events committed but not yet delivered to subscribers.",
        )
        undelivered.add_metric(
            [], SeoBatchEvent.select().where(SeoBatchEvent.published_at.is_null()).count()
        )
        yield undelivered


def _provider(model: str) -> str:
    return provider_for_model(model) or "unknown"


def _bound(value: float) -> str:
    return f"{float(value)}"


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=timezone.utc).timestamp()


# -- registries and servers --------------------------------------------------------------------


def registry(*, multiprocess_dir: str | None = None) -> CollectorRegistry:
    """A registry with the job metrics, plus Dramatiq's per-process metrics from
    ``multiprocess_dir`` when given (the directory Dramatiq's middleware writes to)."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(JobCollector())  # type: ignore[arg-type]
    if multiprocess_dir:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(reg, path=multiprocess_dir)
    return reg


def exposition(*, multiprocess_dir: str | None = None) -> bytes:
    """The metrics as Prometheus text, once (``seobatch metrics --once``, tests)."""
    from prometheus_client import generate_latest

    return generate_latest(registry(multiprocess_dir=multiprocess_dir))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("metrics: " + format, *args)


def make_metrics_server(
    host: str = "0.0.0.0", port: int = DEFAULT_PORT, *, multiprocess_dir: str | None = None
) -> WSGIServer:
    """An HTTP server answering ``GET /metrics`` (any path) with the metrics; not started.

    Call ``serve_forever()`` on it, or run that in a thread; ``server_port`` tells the
    port when ``port`` was 0.
    """
    from socketserver import ThreadingMixIn

    from prometheus_client import make_wsgi_app

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        allow_reuse_address = True

    app = make_wsgi_app(registry(multiprocess_dir=multiprocess_dir))
    return make_server(host, port, app, _Server, handler_class=_QuietHandler)


__all__ = [
    "DEFAULT_PORT",
    "JobCollector",
    "available",
    "exposition",
    "make_metrics_server",
    "registry",
]
