"""``seobatch pages import|export|delete|check-urls|failed|reset``."""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import IO

from ..config import Settings
from ..errors import InputError
from ..page_files import FORMATS, detect_format, export_format
from ..pages.delete import delete_missing, delete_pages, listed_urls
from ..pages.export import export_pages, parse_since
from ..pages.importing import import_pages
from ..pages.keys import url_keys
from ..pages.urls import check_urls
from ..term import plural
from ..text import shorten
from .common import group_help, open_database

#: Row errors printed before the rest are only counted (a million bad rows stay readable).
PRINTED_ERRORS = 100


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pages", help="import pages, export their SEO fields, delete pages",
        description="Load the site's pages (JSONL or CSV) and write them back out with "
        "their generated SEO title and meta description.",
        epilog="examples:\n"
        "  seobatch pages import pages.jsonl       url, title, content, other columns kept\n"
        "  seobatch pages import pages.csv.gz --prune   and delete the pages not in the file\n"
        "  seobatch pages export seo.csv --generated-only\n"
        "  seobatch pages export tonight.csv.gz --since-job 42\n"
        "  seobatch pages export - | head          JSONL on standard output\n"
        "  seobatch pages delete gone.txt          one url a line\n"
        "  seobatch pages delete --missing-from pages.jsonl --dry-run",
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
            "columns are kept as page attributes (e.g. language) and exported again. Urls "
            "are stored in normal form (lower-case scheme and host, no default port, no "
            "#fragment, no utm_*/gclid/fbclid/… parameters; README 'Page files'). Bad rows "
            "are reported with file, line and field and skipped; the others are imported. "
            "A url that appears twice keeps its first row. Content over 1,000,000 bytes "
            "is cut at a word boundary (a warning); a row over 16 MiB is rejected. Exit "
            "status 1 when any row was rejected."
        ),
        epilog="FILE ends in .csv, .csv.gz, .jsonl or .jsonl.gz; '-' reads standard input "
        "(then --format is needed).",
    )
    imp.add_argument("file", metavar="FILE", help="a .jsonl or .csv file, optionally .gz (or '-')")
    imp.add_argument("--format", choices=FORMATS, help="override the format the file name implies")
    imp.add_argument(
        "--prune", action="store_true",
        help="then delete the pages whose url is not in FILE (not when a row was rejected; "
        "pages an active job holds are kept)",
    )
    imp.set_defaults(func=run_import)

    exp = pages_sub.add_parser(
        "export",
        help="write pages with their generated SEO title and description",
        description=(
            "Write every page as url, title, seo_title, seo_description, seo_model, "
            "seo_generated_at, then the page's own columns from the import (cms_id, sku, "
            "language, …). The file's name sets the format: .csv, .csv.gz, .jsonl or "
            ".jsonl.gz (any other name is refused); '-' or nothing writes JSONL (or "
            "--format csv) to standard output. CSV cells that a spreadsheet would run as a "
            "formula are prefixed with a quote."
        ),
    )
    exp.add_argument("file", metavar="FILE", nargs="?", default="-",
                     help="output file; '-' or nothing writes to standard output")
    exp.add_argument("--format", choices=FORMATS,
                     help="jsonl or csv on standard output (a file's name must agree)")
    exp.add_argument("--generated-only", action="store_true",
                     help="only pages that have a generated SEO title")
    since = exp.add_mutually_exclusive_group()
    since.add_argument("--since", metavar="ISO", type=_since,
                       help="only pages whose SEO was generated at or after this UTC time "
                       "(2026-12-01, 2026-12-01T02:00, …Z, …+01:00)")
    since.add_argument("--since-job", metavar="N", type=_positive_int,
                       help="only pages whose SEO was generated since job N started (its own included)")
    exp.add_argument("--no-attributes", dest="attributes", action="store_false",
                     help="leave out the import's own columns")
    exp.add_argument("--state", choices=("published", "proposed"), default="published",
                     help="the live values (default), or the proposals waiting for `seobatch review`")
    exp.set_defaults(func=run_export)
    register_failed(pages_sub)

    delete = pages_sub.add_parser(
        "delete",
        help="delete pages: those FILE lists, or those missing from FILE",
        description=(
            "Delete the pages whose url FILE lists, or with --missing-from FILE every page "
            "whose url FILE does not have (pages that left the site). FILE is a .csv/.jsonl "
            "(.gz) page file, whose url column is read, or one url a line. Urls are compared "
            "in normal form. Pages an active job holds are kept and counted; delete again "
            "once the job has ended. A page's items in finished jobs go with it."
        ),
    )
    delete.add_argument("file", metavar="FILE", nargs="?", help="the urls to delete")
    delete.add_argument("--missing-from", metavar="FILE",
                        help="delete every page whose url is not in FILE instead")
    delete.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    delete.set_defaults(func=run_delete)

    check = pages_sub.add_parser(
        "check-urls",
        help="count stored urls that are not in normal form (imported before the rule)",
        description=(
            "Read-only: how many stored urls normalising would change, and how many of "
            "those would then be the same page as another one. Re-importing the site with "
            "--prune replaces them by their normal form (their SEO is generated again)."
        ),
    )
    check.set_defaults(func=run_check_urls)


def _since(text: str) -> object:
    try:
        return parse_since(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a job id (a positive number), got {text!r}")
    return value


class _Printer:
    """Row errors and warnings on stderr: the first PRINTED_ERRORS, then only a count."""

    def __init__(self) -> None:
        self.printed = 0

    def error(self, error: InputError) -> None:
        self._print(f"seobatch: {error}")

    def warning(self, error: InputError) -> None:
        self._print(f"seobatch: warning: {error}")

    def _print(self, line: str) -> None:
        self.printed += 1
        if self.printed <= PRINTED_ERRORS:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.printed > PRINTED_ERRORS:
            print(f"seobatch: … and {self.printed - PRINTED_ERRORS} more", file=sys.stderr)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    if args.file == "-" and not args.format:
        raise InputError("reading standard input needs --format jsonl or --format csv")
    detect_format(args.file, args.format)  # fail before touching the database
    open_database(settings)
    printer = _Printer()
    summary = import_pages(
        args.file, fmt=args.format, chunk_size=settings.chunk_size, on_error=printer.error,
        on_warning=printer.warning, prune=args.prune,
    )
    printer.close()
    print(summary.describe())
    return 1 if summary.rejected else 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.file != "-":
        export_format(args.file, args.format)  # fail before touching the database
    open_database(settings)
    options = {
        "fmt": args.format, "chunk_size": settings.chunk_size, "generated_only": args.generated_only,
        "since": args.since, "since_job": args.since_job, "attributes": args.attributes,
        "state": args.state,
    }
    if args.file == "-":
        out, wrapped = _stdout()
        try:
            count = export_pages(None, stream=out, **options)
            out.flush()
        finally:
            if wrapped:
                out.detach()  # type: ignore[attr-defined]
        print(f"exported {plural(count, 'page')}", file=sys.stderr)
    else:
        count = export_pages(args.file, **options)
        print(f"exported {plural(count, 'page')} to {args.file}")
    return 0


def run_delete(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.file) == bool(args.missing_from):
        raise InputError("name the urls to delete (FILE) or the site's urls (--missing-from FILE), one of the two")
    open_database(settings)
    printer = _Printer()
    bad = 0

    def count_bad(error: InputError) -> None:
        nonlocal bad
        bad += 1
        printer.error(error)

    if args.file:
        summary = delete_pages(
            listed_urls(args.file, on_error=count_bad), chunk_size=settings.chunk_size,
            dry_run=args.dry_run,
        )
        printer.close()
    else:
        keys = url_keys(listed_urls(args.missing_from, on_error=count_bad))
        printer.close()
        if bad:
            raise InputError(
                f"{bad} line(s) of the file could not be read, so their pages cannot be told "
                "from pages that left the site; nothing was deleted", file=args.missing_from,
            )
        if not keys:
            raise InputError("the file lists no url (that would delete every page); nothing was deleted",
                             file=args.missing_from)
        summary = delete_missing(keys, chunk_size=settings.chunk_size, dry_run=args.dry_run)
    print(summary.describe())
    return 1 if bad else 0


def run_check_urls(args: argparse.Namespace, settings: Settings) -> int:
    open_database(settings)
    report = check_urls(chunk_size=settings.chunk_size)
    print(report.describe())
    for old, new in report.examples:
        print(f"  {old}  →  {new}")
    return 0


def _stdout() -> tuple[IO[str], bool]:
    """Standard output as UTF-8 without newline translation (CSV writes its own CRLF)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        return sys.stdout, False
    sys.stdout.flush()
    return io.TextIOWrapper(buffer, encoding="utf-8", newline="", write_through=True), True


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
    print(f"reset {plural(done, 'page')}{note}; the next run collects them again")
    return 0
