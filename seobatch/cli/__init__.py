"""The ``seobatch`` command line: ``main(argv=None) -> int``.

Each command group lives in its own module with a ``register(subparsers)`` function that
adds its parsers and sets ``func(args, settings) -> int`` on them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import select
import sys

from ..config import Settings
from ..errors import SeobatchError
from ..logs import LOG_FORMATS, redact, setup_logging

RET_OK = 0
RET_ERROR = 1
RET_USAGE = 2
#: What a shell reports for a process that SIGPIPE ended (128 + 13): ``… | head`` stopped reading.
RET_BROKEN_PIPE = 141

EPILOG = """\
getting started:
  seobatch demo                            the whole pipeline offline, on sample pages
  seobatch db init                         create the tables in DATABASE_URL
  seobatch pages import pages.jsonl        load the site's pages (JSONL or CSV)
  seobatch run --dry-run                   what a run would send, and its cost
  seobatch run --wait                      run now, with progress, until it ends
  seobatch jobs                            what ran, what it cost
  seobatch runs                            each night as a whole (a split run's jobs added up)
  seobatch job 12                          one job: errors grouped, tokens, savings
  seobatch pages export seo.csv            the generated titles and descriptions

Settings come from the environment: DATABASE_URL, REDIS_URL, ANTHROPIC_API_KEY,
GEMINI_API_KEY, SEOBATCH_MODEL and more (README.md, "Configuration").
`seobatch COMMAND --help` explains each command."""

#: Modules of ``seobatch.cli`` that add commands, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "db", "pages", "run", "jobs", "runs", "revisions", "audit", "control", "prune", "demo", "emulator",
    "metrics", "web",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seobatch",
        description=(
            "Write the SEO title and meta description of every page through the "
            "providers' batch APIs (half the interactive price)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default=None,
        help="log lines as text (default) or one JSON object per line; "
        "overrides SEOBATCH_LOG_FORMAT",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        if not _stdout_is_broken():
            raise  # some other pipe or socket: a real error, keep its traceback
        _silence_stdout()
        return RET_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return RET_USAGE
    settings: Settings | None = None
    try:
        settings = Settings.from_env()
        if args.log_format:
            settings = settings.with_(log_format=args.log_format)
        setup_logging(
            logging.DEBUG if args.verbose else logging.INFO,
            settings.secrets(),
            settings.log_format,
        )
        code = int(args.func(args, settings) or RET_OK)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except SeobatchError as exc:
        secrets = settings.secrets() if settings else ()
        print(f"seobatch: error: {redact(str(exc), secrets)}", file=sys.stderr)
        return RET_ERROR
    except KeyboardInterrupt:
        print("seobatch: interrupted", file=sys.stderr)
        return 130


def _stdout_is_broken() -> bool:
    """Whether stdout's reader has gone (a pipe whose read end is closed polls as an error)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True  # not a file (a test's capture): nothing else could have broken
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): end quietly, like a tool SIGPIPE stops.

    Python flushes stdout once more at exit; pointing it at /dev/null keeps that flush
    from raising a second BrokenPipeError ("Exception ignored …") on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is not a file (tests capture it)
        pass
