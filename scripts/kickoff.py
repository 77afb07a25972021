#!/usr/bin/env python3
"""One kickoff, for cron: the recovery sweep, then a run of SEOBATCH_MODEL.

Exit status: 0 when a run was queued or one is still collecting (nothing to do), 1 on
a configuration or database error (and, without REDIS_URL, when a job it worked
failed). The messages go to REDIS_URL's workers; without REDIS_URL everything is worked
in this process until it ends: first the jobs the sweep found stalled (a night whose
process died), then — once none of them is still collecting — the new run. The work is
``seobatch.runs.start_run``'s, as for ``seobatch run``.
"""

from __future__ import annotations

import logging
import sys

import actors.queue
from seobatch.config import Settings
from seobatch.errors import SeobatchError
from seobatch.logs import redact, setup_logging
from seobatch.runs import start_run
from seobatch.schema import open_database
from seobatch.stages.kickoff import check_run

log = logging.getLogger("seobatch.kickoff")


def main() -> int:
    settings = None
    try:
        settings = Settings.from_env()
        setup_logging(logging.INFO, settings.secrets(), settings.log_format)
        check_run(settings)  # a bad model or a missing key in one line, before the database
        open_database(settings)
        done = start_run(settings, queue=actors.queue, source="kickoff", wait=not settings.redis_url,
                         skip_if_running=True)
        for line in done.recovery.lines():
            log.info("recover: %s", line)
        for line in done.lines():
            print(line)
        return 1 if done.failed else 0
    except SeobatchError as exc:
        print(f"kickoff: error: {redact(str(exc), settings.secrets() if settings else ())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
