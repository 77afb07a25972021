#!/usr/bin/env python3
"""One kickoff, for cron: the recovery sweep, then a run of SEOBATCH_MODEL.

Exit status: 0 when a run was queued or one is still collecting (nothing to do), 1 on
a configuration or database error (and, without REDIS_URL, when a job it worked
failed). The messages go to REDIS_URL's workers; without REDIS_URL everything is worked
in this process until it ends: first the jobs the sweep found stalled (a night whose
process died), then — once none of them is still collecting — the new run.
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

    from seobatch import db

    check_run(settings, model)
    if db.database.obj is None:  # the clock has it open already (and owns the connection)
        open_database(settings)
    swept = recover(settings=settings)
    for line in swept.lines():
        log.info("recover: %s", line)

    def start() -> tuple[int, list] | None:
        try:
            started = kickoff(settings=settings, model=model, source="kickoff")
        except AlreadyRunning as exc:
            log.warning("no kickoff: %s", exc)
            return None
        log.info("kickoff: job %s (%s)", started.job.id, started.job.model)
        return started.job.id, started.steps

    if not settings.redis_url:
        from seobatch.cli.run import work_and_report

        return work_and_report([], settings, None, swept=swept.steps, start=start)
    from actors import send_steps

    send_steps(swept.steps)
    started = start()
    if started is not None:
        send_steps(started[1])
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
