"""``seobatch pages import FILE`` / ``seobatch pages export [FILE]`` /
``seobatch pages failed`` / ``seobatch pages reset URL…|--all``."""

from __future__ import annotations

import argparse
import io
import json
import sys

from .. import pages
from ..config import Settings
from ..errors import InputError
from ..text import shorten
from .common import group_help, open_database

#: Row errors printed before the rest are only counted (a million bad rows stay readable).
PRINTED_ERRORS = 100


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pages", help="import pages, export their SEO fields",
        description="Load the site's pages (JSONL or CSV) and write them back out with "
        "their generated SEO title and meta description.",
        epilog="examples:\n"
        "  seobatch pages import pages.jsonl       url, title, content, other columns kept\n"
        "  seobatch pages import pages.csv.gz\n"
        "  seobatch pages export seo.csv --generated-only\n"
        "  seobatch pages export - | head          JSONL on standard output",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=group_help(parser))
    pages_sub = parser.add_subparsers(dest="pages_command", metavar="ACTION")

    imp = pages_sub.add_parser(
        "import",
        help="load pages from a JSONL or CSV file (url, title, content, …)",
        description=(
            "Load pages from FILE into the database, updating pages whose url is already "
            "there. Columns: url (required, absolute http/https), title, content; other "
            "columns are kept as page attributes (e.g. language). Bad rows are reported "
            "with file, line and field and skipped; the others are imported. A url that "
            "appears twice keeps its first row. Exit status 1 when any row was rejected."
        ),
        epilog="FILE may end in .gz; '-' reads standard input (then --format is needed).",
    )
    imp.add_argument("file", metavar="FILE", help="a .jsonl or .csv file (or '-')")
    imp.add_argument("--format", choices=pages.FORMATS, help="override the format the extension implies")
    imp.set_defaults(func=run_import)

    exp = pages_sub.add_parser(
        "export",
        help="write pages with their generated SEO title and description",
        description=(
            "Write every page as url, title, seo_title, seo_description, seo_model, "
            "seo_generated_at. JSONL (default) or CSV; CSV cells that a spreadsheet would "
            "run as a formula are prefixed with a quote."
        ),
    )
    exp.add_argument("file", metavar="FILE", nargs="?", default="-",
                     help="output file; '-' or nothing writes to standard output")
    exp.add_argument("--format", choices=pages.FORMATS,
                     help="jsonl or csv (default: from FILE's extension, else jsonl)")
    exp.add_argument("--generated-only", action="store_true",
                     help="only pages that have a generated SEO title")
    exp.set_defaults(func=run_export)
    register_failed(pages_sub)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    if args.file == "-" and not args.format:
        raise InputError("reading standard input needs --format jsonl or --format csv")
    pages.detect_format(args.file, args.format)  # fail before touching the database
    open_database(settings)
    printed = 0

    def report(error: InputError) -> None:
        nonlocal printed
        printed += 1
        if printed <= PRINTED_ERRORS:
            print(f"seobatch: {error}", file=sys.stderr)

    summary = pages.import_pages(
        args.file, fmt=args.format, chunk_size=settings.chunk_size, on_error=report
    )
    if printed > PRINTED_ERRORS:
        print(f"seobatch: … and {printed - PRINTED_ERRORS} more rejected rows", file=sys.stderr)
    print(summary.describe())
    return 1 if summary.rejected else 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    if args.file == "-":
        out, wrapped = _stdout()
        try:
            count = pages.export_pages(
                None, fmt=args.format, chunk_size=settings.chunk_size,
                generated_only=args.generated_only, stream=out,
            )
        finally:
            out.flush()
            if wrapped:
                out.detach()  # type: ignore[attr-defined]
        print(f"exported {_pages(count)}", file=sys.stderr)
    else:
        count = pages.export_pages(
            args.file, fmt=args.format, chunk_size=settings.chunk_size,
            generated_only=args.generated_only,
        )
        print(f"exported {_pages(count)} to {args.file}")
    return 0


def _stdout() -> tuple[io.TextIOBase, bool]:
    """Standard output as UTF-8 without newline translation (CSV writes its own CRLF)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return sys.stdout, False  # type: ignore[return-value]
    sys.stdout.flush()
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True), True


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


# -- pages left alone after SEOBATCH_MAX_ATTEMPTS (seobatch.attempts) ------------------------


def register_failed(pages_sub: argparse._SubParsersAction) -> None:
    failed = pages_sub.add_parser(
        "failed",
        help="pages left alone after SEOBATCH_MAX_ATTEMPTS failed nights, with their last error",
        description="List the pages the collector no longer takes because they failed "
        "SEOBATCH_MAX_ATTEMPTS nights in a row (an errored item each night: the provider's "
        "error or an invalid reply): url, attempts, last error. `seobatch pages reset` gives "
        "them another night.",
    )
    failed.add_argument("--limit", type=int, metavar="N", help="show at most N pages")
    failed.add_argument("--json", action="store_true", help="one JSON object per line")
    failed.set_defaults(func=run_failed)
    reset = pages_sub.add_parser(
        "reset",
        help="give failed pages another night (attempts back to 0)",
        description="Set the failed-attempts count of the given pages (or, with --all, of "
        "every page left alone) back to 0, so the next run collects them again. Their last "
        "error stays until a success clears it.",
    )
    reset.add_argument("urls", metavar="URL", nargs="*", help="pages to reset, by url")
    reset.add_argument("--all", action="store_true", help="every page left alone after SEOBATCH_MAX_ATTEMPTS")
    reset.set_defaults(func=run_reset)


def run_failed(args: argparse.Namespace, settings: Settings) -> int:
    from .. import attempts  # lazy: fast --help

    open_database(settings)
    shown = 0
    for row in attempts.failed_pages(settings.max_attempts, limit=args.limit):
        shown += 1
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['url']}  {row['attempts']} attempts  {shorten(row['last_error'] or '-', 120)}")
    total = attempts.count_failed(settings.max_attempts)
    if not total:
        print(f"no page is left alone (none failed {settings.max_attempts} nights in a row)", file=sys.stderr)
    else:
        print(f"{shown} of {total} page{'s' if total != 1 else ''} left alone after "
              f"{settings.max_attempts} failed attempts; `seobatch pages reset --all` "
              "gives them another night", file=sys.stderr)
    return 0


def run_reset(args: argparse.Namespace, settings: Settings) -> int:
    from .. import attempts  # lazy: fast --help

    if bool(args.urls) == bool(args.all):
        raise InputError("name the pages to reset by url, or pass --all (not both)")
    open_database(settings)
    done = attempts.reset_attempts(None if args.all else args.urls, max_attempts=settings.max_attempts)
    note = ""
    if args.urls and done < len(set(args.urls)):
        note = f" ({len(set(args.urls)) - done} not known or without failed attempts)"
    print(f"reset {_pages(done)}{note}; the next run collects them again")
    return 0
