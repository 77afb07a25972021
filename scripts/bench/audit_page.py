#!/usr/bin/env python3
"""What the web page's Audit costs at scale: seed N pages with published values in bulk
(pairs of pages share a title, so title_duplicate fires on all of them), then time
``seobatch.audit.run_audit`` (the overview) and ``check_pages`` (one check's first page
of URLs): what every request cost before the page's cache. Then the page itself, signed
in through Flask's test client: the first request (it starts the background audit and
answers "computing…"), the wait until the overview is ready, a later request, a check's
first and second page from the cache, and the data-version query alone (best of 3);
wall and CPU time, and the peak RSS. Runs in a schema of its own, dropped after.

    .venv/bin/python scripts/bench/audit_page.py --pages 100000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Sandbox  # noqa: E402
from seobatch import db, schema  # noqa: E402
from seobatch.audit import check_pages, run_audit  # noqa: E402
from seobatch.config import Settings  # noqa: E402
from seobatch.models import WebUser  # noqa: E402
from seobatch.web.app import create_app  # noqa: E402
from seobatch.web.audit_cache import data_version  # noqa: E402

_SEED = (
    "INSERT INTO seo_pages (url, title, content, content_hash, seo_attempts, seo_locked, attributes, seo_title, "
    "seo_description, created_at, updated_at) SELECT 'https://www.shop.example/p/' || g, 'Oak chair model ' || g, "
    "'A sturdy oak chair model ' || g || ' for every dining room, oiled and delivered.', md5(g::text), 0, FALSE, "
    "'{{\"language\": \"en\"}}', 'Oak chair model ' || (g % {half}) || ' | Shop', "
    "'A sturdy oak chair for every dining room, oiled and delivered assembled to your door.', now(), now() "
    "FROM generate_series(1, {n}) g"
)


_SECRET = "bench-web-secret-0123456789abcdefghijklmnop"
_PASSWORD = "bench password, not a real one"


def _timed(fn: Callable[[], Any], digits: int = 1) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": round(time.perf_counter() - wall, digits), "cpu_s": round(time.process_time() - cpu, digits)}


def _best(fn: Callable[[], Any], times: int = 3) -> dict[str, float]:
    return min((_timed(fn, 4) for _ in range(times)), key=lambda t: t["wall_s"])


def _web(url: str) -> dict[str, Any]:
    """The Audit page through the app, as a signed-in viewer."""
    from werkzeug.security import generate_password_hash

    WebUser.create(name="bench", role="viewer", password_hash=generate_password_hash(_PASSWORD, "pbkdf2:sha256:1000"))
    app = create_app(Settings(database_url=url, web_secret=_SECRET), secret_key=_SECRET)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on /login"
    assert client.post("/login", data={"name": "bench", "password": _PASSWORD,
                                       "csrf_token": token.group(1)}).status_code == 302
    cache = app.extensions["seobatch.audit_cache"]

    def get(path: str, want: str) -> str:
        page = client.get(path).get_data(as_text=True)
        assert want in page, f"{path}: no {want!r}"
        return page

    out: dict[str, Any] = {"first_request": _timed(lambda: get("/audit", "Computing the audit of"), 3)}
    out["until_ready"] = _timed(lambda: cache.join(3600))
    out["later_request"] = _best(lambda: get("/audit", 'data-source="published"'))
    first = get("/audit/title_duplicate", 'rel="next"')
    after = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    out["check_first_page"] = _best(lambda: get("/audit/title_duplicate", "check-pages"))
    out["check_next_page"] = _best(lambda: get(after, "check-pages"))
    out["version_query"] = _best(lambda: data_version("published", None))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("--database-url must be postgresql://… (the seed uses generate_series)")
    box = Sandbox(args.database_url)
    try:
        db.configure(box.url)
        schema.init_db()
        sql_text = _SEED.format(n=args.pages, half=max(1, args.pages // 2)).replace("%", "%%")
        db.database.execute_sql(sql_text)  # sql-constant: the benchmark's own seed
        db.database.execute_sql("ANALYZE")
        out = {"pages": args.pages,
               "overview": _timed(lambda: run_audit(examples=3)),
               "check_page": _timed(lambda: check_pages("title_duplicate", limit=100, examples=1)),
               "web": _web(box.url),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
        print(json.dumps(out, indent=2))
    finally:
        db.database.close()
        box.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
