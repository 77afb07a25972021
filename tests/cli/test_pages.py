"""``seobatch pages import|export|delete|check-urls``: what they print and their exit codes."""

from __future__ import annotations

import csv
import io

import pytest

from seobatch.cli import main
from seobatch.db import utcnow
from seobatch.models import Page, SeoBatchJob
from seobatch.pages.export import EXPORT_FIELDS

from tests.support.pages import read_export, seed_export_pages, seed_site, write_csv, write_jsonl


def test_cli_import_prints_errors_and_a_summary_and_exits_1_on_rejects(cli_env, tmp_path, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", [{"url": "https://example.com/a"}, {"title": "x"}])
    assert main(["pages", "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "imported 1 new, updated 0, unchanged 0, rejected 1 (see errors above)\n"
    assert err == f"seobatch: {path}:2: missing url (field 'url')\n"
    assert main(["pages", "import", str(path)]) == 1
    clean = write_jsonl(tmp_path / "clean.jsonl", [{"url": "https://example.com/a"}])
    assert main(["pages", "import", str(clean)]) == 0
    assert capsys.readouterr().out.endswith("imported 0 new, updated 0, unchanged 1, rejected 0\n")


def test_cli_import_of_an_unreadable_file_is_a_one_line_error(cli_env, tmp_path, capsys):
    assert main(["pages", "import", str(tmp_path / "none.csv")]) == 1
    assert capsys.readouterr().err == f"seobatch: error: {tmp_path / 'none.csv'}: no such file\n"
    assert main(["pages", "import", "-"]) == 1
    assert "needs --format" in capsys.readouterr().err


def test_cli_import_prune_and_check_urls(cli_env, tmp_path, capsys):
    Page.insert(url="HTTPS://EXAMPLE.com/old", content_hash="h").execute()
    assert main(["pages", "check-urls"]) == 0
    assert capsys.readouterr().out == (
        "1 of 1 page have a url that is not in normal form (0 of them share it with another page)\n"
        "  HTTPS://EXAMPLE.com/old  →  https://example.com/old\n"
    )
    path = write_jsonl(tmp_path / "site.jsonl", [{"url": "HTTPS://EXAMPLE.com/old"}])
    assert main(["pages", "import", str(path), "--prune"]) == 0
    assert capsys.readouterr().out == "imported 1 new, updated 0, unchanged 0, rejected 0; prune: deleted 1 page\n"
    assert [p.url for p in Page.select()] == ["https://example.com/old"]


def test_cli_export_writes_csv_to_stdout(cli_env, capsysbinary):
    seed_export_pages()
    assert main(["pages", "export", "--format", "csv"]) == 0
    out, err = capsysbinary.readouterr()
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
    assert rows[0] == list(EXPORT_FIELDS) and len(rows) == 5
    assert b"\r\n" in out
    assert err.decode() == "exported 4 pages\n"


def test_cli_export_to_a_file(cli_env, tmp_path, capsys):
    seed_export_pages()
    target = tmp_path / "seo.jsonl"
    assert main(["pages", "export", str(target)]) == 0
    assert capsys.readouterr().out == f"exported 4 pages to {target}\n"
    assert len(target.read_text(encoding="utf-8").splitlines()) == 4


def test_cli_export_to_an_unknown_extension_is_one_error_line(cli_env, tmp_path, capsys):
    assert main(["pages", "export", str(tmp_path / "out.xlsx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"seobatch: error: {tmp_path / 'out.xlsx'}: cannot tell the export format")
    assert err.count("\n") == 1 and not (tmp_path / "out.xlsx").exists()


def test_cli_export_since_job_to_a_gzipped_csv(cli_env, tmp_path, capsys):
    job = SeoBatchJob.create(model="claude-sonnet-4-5")
    Page.create(url="https://example.com/a", seo_title="A", seo_generated_at=utcnow(), attributes={"cms_id": "9"})
    Page.create(url="https://example.com/b")
    target = tmp_path / "tonight.csv.gz"
    assert main(["pages", "export", str(target), "--since-job", str(job.id)]) == 0
    assert capsys.readouterr().out == f"exported 1 page to {target}\n"
    [row] = read_export(target)
    assert (row["url"], row["cms_id"]) == ("https://example.com/a", "9")
    with pytest.raises(SystemExit) as usage:  # a usage error, before any work
        main(["pages", "export", "--since", "soon"])
    assert usage.value.code == 2
    assert "argument --since: expected an ISO 8601 date" in capsys.readouterr().err


def test_cli_delete_by_list_and_missing_from(cli_env, tmp_path, capsys):
    seed_site(5)
    gone = tmp_path / "gone.txt"
    gone.write_text("# left the site\nhttps://example.com/0\n\nnot a url\n", encoding="utf-8")
    assert main(["pages", "delete", str(gone)]) == 1  # a bad line: reported, the rest deleted
    out, err = capsys.readouterr()
    assert out == "deleted 1 page\n"
    assert err == f"seobatch: {gone}:4: url must be an absolute http(s) URL, got 'not a url' (field 'url')\n"
    site = write_csv(tmp_path / "site.csv", [["url"], ["https://example.com/1"], ["https://example.com/2"]])
    assert main(["pages", "delete", "--missing-from", str(site), "--dry-run"]) == 0
    assert capsys.readouterr().out == "would delete 2 pages\n"
    assert main(["pages", "delete", "--missing-from", str(site)]) == 0
    assert sorted(p.url for p in Page.select()) == ["https://example.com/1", "https://example.com/2"]
    # A site file with an unreadable line deletes nothing
    bad = write_csv(tmp_path / "bad.csv", [["url"], ["https://example.com/1"], ["nope"]])
    capsys.readouterr()
    assert main(["pages", "delete", "--missing-from", str(bad)]) == 1
    assert "nothing was deleted" in capsys.readouterr().err and Page.select().count() == 2
    assert main(["pages", "delete"]) == 1
    assert "one of the two" in capsys.readouterr().err
