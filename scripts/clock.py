#!/usr/bin/env python3
"""The Procfile's clock: the nightly kickoff on SEOBATCH_SCHEDULE, and the recovery sweep.

Runs ``seobatch.clock.run`` (see there) until SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import actors.queue
from seobatch import clock
from seobatch.config import Settings
from seobatch.logs import setup_logging


def main() -> int:
    settings = Settings.from_env()
    setup_logging(logging.INFO, settings.secrets(), settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return clock.run(settings, queue=actors.queue, stop=stop)


if __name__ == "__main__":
    sys.exit(main())
