"""``seobatch web``: serve the web page; ``seobatch web adduser``: make its accounts."""

from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import sys
from collections.abc import Callable

from ..config import Settings
from ..errors import ConfigError, ValidationError
from ._queue import queue
from .common import open_database

log = logging.getLogger("seobatch.web")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8800

EPILOG = """\
examples:
  seobatch web adduser alice --role admin     asks for alice's password
  echo "$PASSWORD" | seobatch web adduser bot --role viewer
  SEOBATCH_WEB_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))') \\
    seobatch web                              http://127.0.0.1:8800/
  seobatch web --dev                          a throwaway secret: sign-ins end with the process

Roles: viewers read runs and jobs; reviewers also approve and reject revisions; admins
also cancel jobs and roll back. Behind a reverse proxy that terminates https, set
SEOBATCH_WEB_HTTPS=true and SEOBATCH_WEB_PROXIES=1 (README, "The web page")."""


def register(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser(
        "web", help="serve the web page (runs, jobs, previews) on 127.0.0.1",
        description="Serve the web page for the people who own the site's SEO, from "
        "DATABASE_URL, with waitress (a production WSGI server). Needs SEOBATCH_WEB_SECRET "
        "(at least 32 characters) to sign sessions, unless --dev.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    web.add_argument("--host", default=DEFAULT_HOST,
                     help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    web.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    web.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    web.add_argument("--dev", action="store_true",
                     help="without SEOBATCH_WEB_SECRET, make a secret for this process only")
    web.set_defaults(func=run_web)
    web_sub = web.add_subparsers(dest="web_command", metavar="ACTION")
    add = web_sub.add_parser(
        "adduser", help="create a user (the password is read from a prompt or stdin)",
        description="Create a user of the web page. The password is asked for twice on a "
        "terminal, or read as the first line of stdin; it is never an argument (arguments "
        "show in `ps` and shell history). Stored as a salted scrypt hash.",
        epilog="examples:\n  seobatch web adduser alice --role reviewer\n"
        "  seobatch web adduser alice --role admin --update    new password and role",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("name", metavar="NAME", help="the sign-in name (letters, digits, . _ @ -)")
    add.add_argument("--role", required=True, choices=("viewer", "reviewer", "admin"),
                     help="what the user may do")
    add.add_argument("--update", action="store_true",
                     help="the user exists: set a new password and role (signs out its sessions)")
    add.set_defaults(func=run_adduser)


def _read_password(stream=None) -> str:
    stream = stream or sys.stdin
    if stream.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ValidationError("the two passwords differ; nothing was changed")
        return first
    line = stream.readline()
    return line.rstrip("\r\n")


def run_adduser(args: argparse.Namespace, settings: Settings) -> int:
    from ..web.auth import add_user  # loads Flask, which only `seobatch web` needs

    open_database(settings)
    password = _read_password()
    user, created = add_user(args.name, password, args.role, update=args.update)
    print(f"{'created' if created else 'updated'} user {user.name} ({user.role})")
    return 0


def run_web(args: argparse.Namespace, settings: Settings) -> int:
    from ..web.app import create_app  # loads Flask and waitress, which only this command needs
    from ..web.server import make_server  # the same

    secret = settings.web_secret
    if not secret:
        if not args.dev:
            raise ConfigError(
                "SEOBATCH_WEB_SECRET is not set: it signs the sessions (at least 32 random "
                "characters, e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'); "
                "or start with --dev for a secret of this process only"
            )
        secret = secrets.token_urlsafe(48)
        print("--dev: a secret made for this process only; sign-ins end when it stops",
              file=sys.stderr)
    elif len(secret) < 32:
        raise ConfigError(f"SEOBATCH_WEB_SECRET must be at least 32 characters, got {len(secret)}")
    open_database(settings)
    send_steps: Callable[..., None] | None = None
    if settings.redis_url:  # a cancel's next step goes to the workers
        queue().check_reachable(settings)
        send_steps = queue().send
    app = create_app(settings, secret_key=secret, send_steps=send_steps)
    server = make_server(app, args.host, args.port, threads=args.threads,
                         behind_proxy=settings.web_proxies > 0)
    print(f"seobatch web on http://{args.host}:{server.effective_port}/ (Ctrl-C stops)", flush=True)
    server.run()
    return 0
