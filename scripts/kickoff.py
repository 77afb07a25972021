#!/usr/bin/env python3
"""One kickoff, for cron: the recovery sweep, then a run of SEOBATCH_MODEL.

Exit status: 0 when a run was queued or one is still collecting (nothing to do), 1 on
a configuration or database error. The messages go to REDIS_URL's workers; without
REDIS_URL the run is worked in this process until it ends.
"""

from __future__ import annotations

import logging
import sys

from seobatch.config import Settings
from seobatch.errors import AlreadyRunning, SeobatchError
from seobatch.logs import redact, setup_logging

log = logging.getLogger("seobatch.kickoff")


def kick(settings: Settings, *, model: str | None = None) -> int:
    from seobatch.cli.common import open_database
    from seobatch.stages.kickoff import check_run, kickoff
    from seobatch.stages.recover import recover

    check_run(settings, model)
    open_database(settings)
    swept = recover(settings=settings)
    in_process = not settings.redis_url
    if not in_process:
        from actors import send_steps

        send_steps(swept.steps)
    for line in swept.lines():
        log.info("recover: %s", line)
    try:
        started = kickoff(settings=settings, model=model, source="kickoff")
    except AlreadyRunning as exc:
        log.warning("no kickoff: %s", exc)
        return 0
    if in_process:
        from seobatch.cli.run import work_and_report

        return work_and_report(started.steps, settings, started.job.id)
    from actors import send_steps

    send_steps(started.steps)
    log.info("kickoff: job %s queued (%s)", started.job.id, started.job.model)
    return 0


def main() -> int:
    settings = None
    try:
        settings = Settings.from_env()
        setup_logging(logging.INFO, settings.secrets(), settings.log_format)
        return kick(settings)
    except SeobatchError as exc:
        print(f"kickoff: error: {redact(str(exc), settings.secrets() if settings else ())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
