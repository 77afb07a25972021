"""``seobatch pages import FILE`` / ``seobatch pages export [FILE]``."""

from __future__ import annotations

import argparse
import io
import sys

from .. import pages
from ..config import Settings
from ..errors import InputError
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
    exp.add_argument("--state", choices=("published", "proposed"), default="published",
                     help="the live values (default), or the proposals waiting for `seobatch review`")
    exp.set_defaults(func=run_export)


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
                generated_only=args.generated_only, stream=out, state=args.state,
            )
        finally:
            out.flush()
            if wrapped:
                out.detach()  # type: ignore[attr-defined]
        print(f"exported {_pages(count)}", file=sys.stderr)
    else:
        count = pages.export_pages(
            args.file, fmt=args.format, chunk_size=settings.chunk_size,
            generated_only=args.generated_only, state=args.state,
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
