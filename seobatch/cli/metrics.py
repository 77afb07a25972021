"""``seobatch metrics``: serve the job metrics for Prometheus (or print them once)."""

from __future__ import annotations

import argparse
import sys

from .. import metrics
from ..config import Settings
from ..errors import ConfigError
from .common import open_database

EPILOG = f"""\
examples:
  seobatch metrics                       serve on 0.0.0.0:{metrics.DEFAULT_PORT}/metrics
  seobatch metrics --port 9300 --host 127.0.0.1
  seobatch metrics --once                print the metrics and exit

The numbers are read from DATABASE_URL at each scrape, so one such process
(e.g. next to the clock) covers every worker. Workers whose broker calls
seobatch.metrics.install() serve the same job metrics next to Dramatiq's own on
dramatiq_prom_port (9191). Needs the optional prometheus-client:
pip install 'seobatch[metrics]'."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "metrics",
        help="serve job metrics for Prometheus (jobs by status, items, turnaround, cost)",
        description="Serve seobatch's job metrics in the Prometheus text format: jobs by "
        "status, items by outcome, turnaround per provider and model, cost, stuck jobs "
        "and undelivered events.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=metrics.DEFAULT_PORT,
                        help=f"port to listen on (default {metrics.DEFAULT_PORT}; 0 picks one)")
    parser.add_argument("--once", action="store_true", help="print the metrics once and exit")
    parser.set_defaults(func=run_metrics)


def run_metrics(args: argparse.Namespace, settings: Settings) -> int:
    if not metrics.available():
        raise ConfigError(metrics.MISSING.replace("job metrics are off", "seobatch metrics needs it"))
    open_database(settings)
    if args.once:
        sys.stdout.write(metrics.exposition(settings=settings).decode("utf-8"))
        return 0
    try:
        server = metrics.make_metrics_server(args.host, args.port, settings=settings)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving job metrics on http://{args.host}:{server.server_port}/metrics "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
