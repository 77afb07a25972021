"""The quality gate through the real pipeline: emulator replies of every failure kind, on
both providers and both databases, published, repaired, rejected or flagged as the ladder
(seo-quality.md §4) says; the site stage, the repair loop, ``pages export`` and
``seobatch audit --json`` show it."""

from __future__ import annotations

import csv
import io
import json

import pytest

from seobatch.cli import main
from seobatch.models import Page
from seobatch.quality import QualityProfile, text_width_px
from seobatch.stages.collect import collect
from seobatch.stages.kickoff import kickoff
from seobatch.stages.results import results
from seobatch.stages.submit import submit

from tests.support.pipeline import items_of, job, make_settings

BOOT = ("The Ridgeline hiking boot has a waterproof membrane, a grippy rubber outsole and a padded collar. "
        "It is made for long days on rocky mountain trails and comes in sizes 36 to 47. ")
FRENCH = ("La chaussure de randonnée Ridgeline possède une membrane imperméable, une semelle en caoutchouc "
          "adhérente et un col rembourré. Elle est faite pour les longues journées sur les sentiers de montagne. ")

#: path → (reply kind cued in the emulator or None, page fields, what the ladder does, the checks or
#: repairs the item's verdict must name).
CORPUS = {
    "/ok/boot": (None, {"title": "Ridgeline hiking boot"}, "publish", set()),
    "/wide/boot": ("too_wide", {"title": "Summit hiking boot"}, "repaired", {"brand_dropped", "title_cut_at_word"}),
    "/artefact/boot": ("artefact", {"title": "Cascade hiking boot"}, "repaired", {"artefact_removed"}),
    "/brand/boot": ("brand_doubled", {"title": "Talus hiking boot"}, "repaired", {"segment_deduplicated"}),
    "/fr/chaussure": ("wrong_language", {"title": "Chaussure de randonnée Ridgeline", "content": FRENCH * 3,
                                         "attributes": {"language": "fr"}}, "reject", {"language_mismatch"}),
    "/price/boot": ("invented_price", {"title": "Granite hiking boot"}, "reject", {"ungrounded_price"}),
    "/stuffing/boot": ("stuffing", {"title": "Basalt hiking boots"}, "reject", {"title_keyword_stuffing"}),
    "/placeholder/boot": ("placeholder", {"title": "Moraine hiking boot"}, "reject", {"title_placeholder"}),
    "/h1/boot": (None, {"title": "Scree hiking boot", "h1": "Scree hiking boot"}, "flag",
                 {"title_same_as_h1"}),
    "/same/a": ("boilerplate", {"title": "Ridgeline hiking boot A"}, "duplicate", set()),
    "/same/b": ("boilerplate", {"title": "Ridgeline hiking boot B"}, "duplicate", set()),
    "/same/c": ("boilerplate", {"title": "Ridgeline hiking boot C"}, "duplicate", set()),
}
HOST = "https://shop.example.com"


def _pages() -> None:
    for path, (_, fields, _, _) in CORPUS.items():
        fields = {"content": BOOT * 3, **fields}
        Page(url=HOST + path, **fields).save()


def _night(settings, model: str) -> int:
    j = kickoff(settings=settings, model=model).job
    collect(j.id, settings=settings)
    submit(j.id, settings=settings)
    results(j.id, settings=settings)
    return j.id


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-flash"])
def test_every_check_through_the_pipeline(any_db, emulator, model, tmp_path, monkeypatch):
    settings = make_settings(emulator, quality=QualityProfile(brand="Shop"), chunk_size=5)
    emulator.set_faults(bad_replies={path: kind for path, (kind, *_) in CORPUS.items() if kind})
    _pages()
    job_id = _night(settings, model)
    assert job(job_id).status == "completed"
    items = {i.page.url.removeprefix(HOST): i for i in items_of(job_id)}
    for path, (_, _, want, names) in CORPUS.items():
        item, page = items[path], Page.get(Page.url == HOST + path)
        verdict = item.verdict
        fired = {c["name"] for c in verdict["checks"]} | {r["name"] for r in verdict["repairs"]}
        assert names <= fired, (path, verdict)
        if want == "reject":
            assert item.status == "errored" and item.error.startswith("quality: "), path
            assert verdict["action"] == "reject" and page.seo_title is None and page.seo_attempts == 1, path
            assert any(n in item.error for n in names) and " — " in item.error, item.error
            continue
        assert item.status == "succeeded", (path, item.error)
        assert (page.seo_title, page.seo_description) == (verdict["title"], verdict["description"])
        if "brand_dropped" not in fired:  # the site's one brand format, once
            assert page.seo_title.endswith(" | Shop") and page.seo_title.count("Shop") == 1, page.seo_title
        assert text_width_px(page.seo_title, 20) <= 600 and "…" not in page.seo_title
        assert verdict["action"] == ("flag" if want == "flag" else verdict["action"])
        if want == "publish":
            assert not {c["name"] for c in verdict["checks"]} & {"title_wide", "title_same_as_h1"}
        if want == "repaired":
            assert '"' not in page.seo_title and "Title:" not in page.seo_title and "**" not in page.seo_description
    # The site stage: one page of the boilerplate group keeps the shared title, the others go back.
    same = [Page.get(Page.url == f"{HOST}/same/{x}") for x in "abc"]
    assert len({p.seo_title for p in same}) == 1
    assert [p.seo_avoid is None for p in same] == [True, False, False]
    assert all(p.seo_avoid.startswith("title: Quality outdoor gear") for p in same[1:])
    site = job(job_id).metadata["site_checks"]
    assert site["title_duplicate"] == {"groups": 1, "pages": 3, "regenerate": 2}
    assert site["description_duplicate"]["pages"] == 3

    # seobatch job groups the verdicts.
    monkeypatch.setenv("DATABASE_URL", any_db)
    from seobatch.reports import quality_summary
    summary = quality_summary(job_id)
    assert summary["actions"]["reject"] == 4 and summary["checks"]["language_mismatch"] == 1
    assert summary["repairs"]["artefact_removed"] == 1

    # pages export: the published values only; a rejected reply never appears.
    out = tmp_path / "pages.csv"
    assert main(["pages", "export", str(out)]) == 0
    rows = {r["url"].removeprefix(HOST): r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    for path, (_, _, want, _) in CORPUS.items():
        page = Page.get(Page.url == HOST + path)
        if path in rows:
            assert rows[path]["seo_title"] == (page.seo_title or "")
        if want == "reject":
            assert not (path in rows and rows[path]["seo_title"]), path
            rejected = items[path].verdict["title"]
            assert rejected not in out.read_text(encoding="utf-8")

    # seobatch audit --json of the job: the shape other programs rely on.
    capsys_out = tmp_path / "audit.json"
    with capsys_out.open("w") as fh:
        monkeypatch.setattr("sys.stdout", fh)
        assert main(["audit", "--job", str(job_id), "--json"]) == 0
    monkeypatch.undo()
    audit = json.loads(capsys_out.read_text())
    by_name = {c["check"]: c for c in audit["checks"]}
    assert set(audit["checks"][0]) >= {"check", "severity", "count", "urls"}
    assert all(c["severity"] in ("issue", "warning", "opportunity") for c in audit["checks"])
    assert by_name["ungrounded_price"]["count"] == 1 and by_name["ungrounded_price"]["urls"] == [HOST + "/price/boot"]
    assert by_name["title_placeholder"]["urls"] == [HOST + "/placeholder/boot"]
    assert by_name["title_duplicate"]["count"] == 3

    # The repair loop: next night the rejected and sent-back pages are collected again, told why.
    emulator.set_faults(bad_replies={})
    again = kickoff(settings=settings, model=model).job
    collect(again.id, settings=settings)
    sent = {i.page.url.removeprefix(HOST): json.dumps(i.request, ensure_ascii=False) for i in items_of(again.id)}
    rejected = {p for p, (_, _, want, _) in CORPUS.items() if want == "reject"}
    assert rejected | {"/same/b", "/same/c"} == set(sent)
    assert "write in French" in sent["/fr/chaussure"]
    assert "does not say" in sent["/price/boot"] and "$19.99" in sent["/price/boot"]
    assert "already has the title" in sent["/same/b"] and "Quality outdoor gear" in sent["/same/b"]
    submit(again.id, settings=settings)
    results(again.id, settings=settings)
    for path in rejected - {"/fr/chaussure"}:
        page = Page.get(Page.url == HOST + path)
        assert page.seo_title and page.seo_attempts == 0 and page.seo_last_error is None, path
    # The emulator's plain reply is English again: rejected again, a second attempt counted.
    french = Page.get(Page.url == HOST + "/fr/chaussure")
    assert french.seo_title is None and french.seo_attempts == 2 and "write in French" in french.seo_last_error
    for x in "bc":  # regenerated: unique now; the night they were sent back still counts
        page = Page.get(Page.url == f"{HOST}/same/{x}")
        assert page.seo_avoid is None and page.seo_attempts == 1
        assert not page.seo_title.startswith("Quality outdoor gear")


def test_audit_live_before_the_first_run(any_db, monkeypatch, capsys):
    Page(url=f"{HOST}/a", title="Home", content=BOOT).save()
    Page(url=f"{HOST}/b", title="Ridgeline hiking boot", content=BOOT,
         attributes={"description": "Boots boots boots boots boots for the trail and the mountain path"}).save()
    Page(url=f"{HOST}/c", title="Ridgeline hiking boot", content=BOOT).save()
    monkeypatch.setenv("DATABASE_URL", any_db)
    assert main(["audit", "--live", "--json"]) == 0
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["title_placeholder"]["urls"] == [f"{HOST}/a"]
    assert checks["description_keyword_stuffing"]["urls"] == [f"{HOST}/b"]
    assert checks["description_empty"]["count"] == 2
    assert sorted(checks["title_duplicate"]["urls"]) == [f"{HOST}/b", f"{HOST}/c"]
    assert main(["audit", "--live"]) == 0
    text = capsys.readouterr().out
    assert "title_placeholder" in text and "issue" in text and "3 page(s)" in text


def test_audit_csv_has_one_row_per_page_and_check(any_db, monkeypatch, tmp_path):
    Page(url=f"{HOST}/a", title="Home", content=BOOT).save()
    Page(url=f"{HOST}/b", title="Home", content=BOOT + "x").save()
    monkeypatch.setenv("DATABASE_URL", any_db)
    out = tmp_path / "issues.csv"
    assert main(["audit", "--live", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    pairs = {(r["url"].removeprefix(HOST), r["check"]) for r in rows}
    assert {("/a", "title_placeholder"), ("/b", "title_placeholder"), ("/a", "title_duplicate"),
            ("/b", "title_duplicate"), ("/a", "description_empty")} <= pairs
    assert len(pairs) == len(rows)
    assert {r["severity"] for r in rows} <= {"issue", "warning", "opportunity"}


def test_a_brand_that_leaves_no_room_is_a_config_error_at_start():
    from seobatch.config import Settings
    from seobatch.errors import ConfigError

    with pytest.raises(ConfigError, match="SEOBATCH_BRAND"):
        Settings.from_env({"SEOBATCH_BRAND": "W" * 40})
    with pytest.raises(ConfigError, match="SEOBATCH_TITLE_MIN_PX"):
        Settings.from_env({"SEOBATCH_TITLE_MIN_PX": "700"})
    assert Settings.from_env({"SEOBATCH_BRAND": "Northwind"}).quality.brand == "Northwind"
