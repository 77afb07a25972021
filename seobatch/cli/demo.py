"""``seobatch demo``: the whole pipeline on embedded defaults, in well under a minute.

A temporary SQLite database, the in-process broker and worker, the emulator on a free
local port (batches end a couple of seconds after they are created), dummy keys, the
sample pages shipped with the package. Nothing outside the temporary directory is
touched and no real provider is called.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
from contextlib import nullcontext
from importlib import resources
from pathlib import Path

from ..config import Settings
from ..schema import open_database
from ._queue import queue
from .run import report

SAMPLE = "sample_pages.jsonl"
#: Sample pages the emulator answers badly, so that the demo shows the quality gate at work.
DEMO_BAD_REPLIES = {
    "/tents/aurora-2": "too_wide",             # repaired: cut at a word to fit 600 px
    "/help/returns": "invented_price",         # rejected: "$19.99" is not on the page
    "/recipes/trail-chili": "placeholder",     # rejected: "Home | Example"
    "/climbing/harness-guide": "artefact",     # repaired: 'Title: "…" (48 characters)'
    "/blog/leave-no-trace-basics": "stuffing",  # rejected: a word four times
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="run the whole pipeline locally on sample pages (no keys, no services)",
        description="Import the sample pages into a temporary SQLite database, start the "
        "provider emulator, run the pipeline with an in-process worker and print each "
        "page's generated title and description. Needs no keys and no services; "
        "`scripts/demo` runs this.",
        epilog="examples:\n"
        "  seobatch demo\n"
        "  seobatch demo --model gemini-2.5-flash\n"
        "  seobatch demo --model gpt-4o-mini\n"
        "  seobatch demo --db demo.db && DATABASE_URL=sqlite:///demo.db seobatch job 1\n"
        "  seobatch demo --web             then the web page on the demo's database",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="claude-sonnet-4-5",
                        help="claude-*, gemini-* or gpt-* (all emulated); default %(default)s")
    parser.add_argument("--processing-seconds", type=float, default=2.0, metavar="S",
                        help="how long the emulated batch takes (default %(default)s)")
    parser.add_argument("--pages", metavar="FILE", help="pages to use instead of the samples")
    parser.add_argument(
        "--db", metavar="FILE",
        help="keep the demo's SQLite database in FILE (default: a temporary one, deleted "
        "at the end); explore it afterwards with DATABASE_URL=sqlite:///FILE seobatch jobs",
    )
    parser.add_argument("--web", action="store_true",
                        help="afterwards, serve the web page on the demo's database (an admin with a "
                        "one-time password is made and printed; Ctrl-C stops)")
    parser.add_argument("--web-port", type=int, default=8800, metavar="P",
                        help="the web page's port on 127.0.0.1 (default %(default)s; 0 picks a free one)")
    parser.set_defaults(func=run_demo)


def demo_settings(base: Settings, *, database_url: str, emulator_url: str, model: str) -> Settings:
    """The demo's own settings: nothing from the environment but the output limits and prompt."""
    return base.with_(
        database_url=database_url,
        redis_url=None,
        anthropic_api_key="demo-key",
        gemini_api_key="demo-key",
        anthropic_base_url=emulator_url,
        gemini_base_url=emulator_url,
        openai_api_key="demo-key",
        openai_base_url=f"{emulator_url}/v1",
        model=model,
        poll_interval=1,
        poll_max_interval=2,
        max_cost=None,
        subscribers=(),
    )


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ..audit import render as render_audit  # lazy: fast --help
    from ..audit import run_audit  # lazy: fast --help
    from ..emulator import Emulator  # lazy: fast --help
    from ..models import Page  # lazy: fast --help
    from ..pages.importing import import_pages  # lazy: fast --help
    from ..runs import start_run  # lazy: fast --help

    if not args.verbose:  # the progress display and the final listing tell the story
        logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="seobatch-demo-") as tmp, \
            Emulator(processing_seconds=args.processing_seconds,
                     faults=None if args.pages else {"bad_replies": DEMO_BAD_REPLIES}) as emu:
        db_path = Path(args.db).resolve() if args.db else Path(tmp) / "demo.db"
        demo = demo_settings(
            settings, database_url=f"sqlite:///{db_path}", emulator_url=emu.url,
            model=args.model,
        )
        database = open_database(demo, init=True)  # the demo's own file: create it
        try:
            with _sample_path(args.pages) as path:
                summary = import_pages(str(path))
            print(f"{summary.describe()}; "
                  f"emulator at {emu.url}; model {demo.model}", file=sys.stderr)
            code = report(start_run(demo, queue=queue(), source="demo", wait=True))
            print()
            for page in Page.select().order_by(Page.id):
                print(page.url)
                print(f"  title:       {page.seo_title or '-'}")
                print(f"  description: {page.seo_description or '-'}")
                if page.seo_last_error:  # a rejected reply: the page keeps what it had
                    print(f"  rejected:    {page.seo_last_error}")
            print()
            print(render_audit(run_audit(source="published", profile=demo.quality), examples=1))
            if args.db:
                print(f"\nthe demo's database is kept in {args.db}; look around with\n"
                      f"  DATABASE_URL=sqlite:///{db_path} seobatch jobs", file=sys.stderr)
            if args.web:
                serve_demo_web(demo, args.web_port)
            return code
        finally:
            database.close()


def serve_demo_web(settings: Settings, port: int) -> None:
    """The web page on the demo's database until Ctrl-C: a fresh session secret, and the
    user ``admin`` with a new one-time password (printed once, stored only hashed)."""
    from ..web.app import create_app  # loads Flask and waitress, which only --web needs
    from ..web.auth import add_user  # the same
    from ..web.server import make_server  # the same

    password = secrets.token_urlsafe(12)
    add_user("admin", password, "admin", update=True)
    app = create_app(settings, secret_key=secrets.token_urlsafe(48))
    server = make_server(app, "127.0.0.1", port, threads=4, behind_proxy=False)
    print(f"\nseobatch web on http://127.0.0.1:{server.effective_port}/ on the demo's database; "
          f"sign in as admin with the one-time password {password} (Ctrl-C stops)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


def _sample_path(override: str | None):
    if override:
        return nullcontext(Path(override))
    return resources.as_file(resources.files("seobatch") / "data" / SAMPLE)
