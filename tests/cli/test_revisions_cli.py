"""``seobatch review``, ``diff``, ``rollback`` and ``pages export --state`` on a real
database (both kinds), after real nights through the pipeline."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from seobatch.cli import main
from seobatch.models import Page, PageRevision
from seobatch.revisions import State

from tests.support.pages import make_pages
from tests.support.pipeline import make_settings
from tests.test_revisions import regenerate_all, run_night


@pytest.fixture
def cli(any_db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", any_db)
    monkeypatch.delenv("REDIS_URL", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)


def test_review_lists_then_approves_and_rejects_with_who(cli):
    make_pages(3)
    (job_id,) = run_night(make_settings(publish="review"))
    code, out, _ = cli("review", "--job", str(job_id))
    assert code == 0 and out.count("\n      -> ") == 6 and "3 of 3 proposed" in out and "[review]" in out
    first = PageRevision.select().where(PageRevision.state == State.PROPOSED).order_by(PageRevision.id).first()
    code, out, _ = cli("review", "--approve", str(first.id), "--by", "maria")
    assert (code, out.strip()) == (0, "approved 1 revision (by maria)")
    assert PageRevision.get_by_id(first.id).decided_by == "maria"
    code, _, err = cli("review", "--approve", str(first.id))
    assert code == 1 and err.strip() == f"seobatch: error: revision {first.id} is published, not proposed; nothing changed"
    code, _, err = cli("review", "--reject")
    assert code == 1 and "--all" in err
    code, out, _ = cli("review", "--all", "--reject", "--by", "li")
    assert (code, out.strip()) == (0, "rejected 2 revisions (by li)")
    code, out, _ = cli("review")
    assert out.strip() == "no proposed revision matches all"


def test_a_bad_night_diffed_and_rolled_back_from_the_command_line(cli):
    make_pages(4)
    run_night(make_settings())
    regenerate_all()
    (bad,) = run_night(make_settings(), "bad")
    code, out, _ = cli("diff", "--job", str(bad))
    assert code == 0 and out.count("-> Bad ") == 4 and out.strip().endswith(f"4 revisions from job {bad}")
    code, out, _ = cli("diff", "--job", str(bad), "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 and all(r["title"].startswith("Bad ") and r["old_title"].startswith("Good ") for r in rows)
    code, out, _ = cli("rollback", "--job", str(bad), "--dry-run")
    assert code == 0 and f"job {bad}: would restore 4 pages" in out and "dry run: nothing was changed" in out
    assert all(p.seo_title.startswith("Bad ") for p in Page.select())
    code, out, _ = cli("rollback", "--job", str(bad), "--by", "ops")
    assert code == 0 and out.startswith(f"job {bad}: restored 4 pages (4 to an earlier generated revision")
    assert all(p.seo_title.startswith("Good ") for p in Page.select())
    code, _, err = cli("rollback", "--job", str(bad))
    assert code == 1 and "already rolled back" in err and len(err.strip().splitlines()) == 1
    code, out, _ = cli("pages", "export", "--state", "proposed")
    assert code == 0 and out == ""
