"""``seobatch jobs`` and ``seobatch job ID``: what the on-call engineer reads at 6 a.m."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from seobatch import pricing
from seobatch.cli import main
from seobatch.db import utcnow
from seobatch.models import Page, SeoBatchItem, SeoBatchJob
from seobatch.reports import normalize_reason

ERRORS = [
    "invalid_output: title is 75 characters, needs 10-70",
    "invalid_output: title is 81 characters, needs 10-70",
    "invalid_output: title is 90 characters, needs 10-70",
    "invalid_output: not JSON: 'Sure! Here is the title you asked for'",
    "invalid_output: not JSON: 'I cannot help with that'",
    "invalid_request_error: max_tokens: 99999 > 64000",
]


@pytest.fixture
def cli(any_db, monkeypatch, capsys):
    """Run ``seobatch ARGS`` against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", any_db)
    monkeypatch.delenv("SEOBATCH_PRICES_FILE", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def add_items(job: SeoBatchJob, statuses: list[tuple[str, str | None]], tokens=(1000, 50)) -> None:
    for n, (status, error) in enumerate(statuses):
        page = Page(url=f"https://example.com/{job.id}/{n}", title=f"Page {n}", content="Body")
        page.save()
        SeoBatchItem.create(
            job=job, page=page, custom_id=SeoBatchItem.custom_id_for(page.id, job.id), status=status,
            error=error, input_tokens=tokens[0] if status in ("succeeded", "errored") else None,
            output_tokens=tokens[1] if status == "succeeded" else None,
        )


def completed_job(model: str = "claude-sonnet-4-5", batch_id: str = "msgbatch_01ABC") -> SeoBatchJob:
    """A job of 10 pages: 3 succeeded, 6 errored (3 reasons), 1 expired; cost recorded."""
    job = SeoBatchJob.create(model=model, status="submitting")
    add_items(job, [("succeeded", None)] * 3 + [("errored", e) for e in ERRORS] + [("expired", None)])
    assert job.mark_submitted(batch_id, extra_metadata={"prompt_version": "v1abc"})
    assert job.mark_completed(succeeded=3, errored=6, expired=1, extra_metadata={"cost_usd": 0.0213})
    return job


# -- seobatch jobs ---------------------------------------------------------------------------


def test_jobs_lists_recent_jobs_as_an_aligned_table(cli):
    # Given a finished job, a failed one and one still collecting
    done = completed_job()
    failed = SeoBatchJob.create(model="gemini-2.5-flash", status="collecting")
    failed.mark_failed("ConfigError: GEMINI_API_KEY is not set")
    collecting = SeoBatchJob.create(model="claude-haiku-4-5")
    add_items(collecting, [("pending", None)] * 4)
    # When the operator lists jobs
    code, out, _ = cli("jobs")
    assert code == 0
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:10] == ["ID", "MODEL", "PROVIDER", "STATUS", "PAGES", "OK", "ERR", "EXP", "CANC", "COST"]
    # Then the newest comes first, each row has its facts, and nothing is coloured (not a tty)
    rows = [line.split() for line in lines[1:4]]
    assert [r[0] for r in rows] == [str(collecting.id), str(failed.id), str(done.id)]
    assert rows[2] == [str(done.id), "claude-sonnet-4-5", "anthropic", "completed", "10", "3",
                       "6", "1", "0", "$0.0213", "0s", "msgbatch_01ABC"]
    assert rows[1][:4] == [str(failed.id), "gemini-2.5-flash", "gemini", "failed"]
    assert rows[1][9] == "-" and rows[1][-1] == "-"
    assert rows[0][3:5] == ["collecting", "4"]  # pages counted from the items collected so far
    # And the columns line up: every row's STATUS starts where the header's does
    at = lines[0].index("STATUS")
    assert all(line[at:].split()[0] in {"completed", "failed", "collecting"} for line in lines[1:4])
    assert "\x1b[" not in out
    assert lines[-1].startswith("3 of 3 jobs") and "1 collecting" in lines[-1]


def test_jobs_says_unknown_cost_for_a_completed_job_without_a_price(cli):
    job = SeoBatchJob.create(model="claude-mystery-9", status="submitting")
    job.mark_submitted("msgbatch_X")
    job.mark_completed()
    _, out, _ = cli("jobs")
    assert out.splitlines()[1].split()[9] == "unknown"


def test_jobs_filters_by_status_and_model_and_limits(cli):
    completed_job(batch_id="b1")
    completed_job(model="gemini-2.5-flash", batch_id="b2")
    SeoBatchJob.create(model="claude-sonnet-4-5").mark_failed("boom")
    _, out, _ = cli("jobs", "--status", "completed")
    assert [line.split()[3] for line in out.splitlines()[1:-1]] == ["completed", "completed"]
    _, out, _ = cli("jobs", "--model", "gemini-2.5-flash")
    assert [line.split()[1] for line in out.splitlines()[1:-1]] == ["gemini-2.5-flash"]
    _, out, _ = cli("jobs", "--limit", "1")
    assert len(out.splitlines()) == 3 and out.splitlines()[-1].startswith("1 of 3 jobs")
    _, out, _ = cli("jobs", "--status", "processing")
    assert out.strip() == "no jobs with status processing"


def test_jobs_refuses_an_unknown_status(cli, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["jobs", "--status", "done"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'done'" in capsys.readouterr().err


def test_jobs_on_an_empty_database_says_how_to_start(cli):
    code, out, _ = cli("jobs")
    assert code == 0 and "no jobs yet" in out and "seobatch run" in out


def test_jobs_json_has_stable_keys(cli):
    job = completed_job()
    code, out, _ = cli("jobs", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["shown"], data["total"]) == (1, 1)
    (row,) = data["jobs"]
    assert set(row) == {
        "id", "model", "provider", "status", "reading", "pages", "succeeded", "errored", "expired",
        "canceled", "cost_usd", "created_at", "submitted_at", "completed_at", "age_seconds",
        "provider_batch_id", "error",
    }
    assert (row["id"], row["status"], row["pages"], row["cost_usd"]) == (job.id, "completed", 10, 0.0213)
    assert row["created_at"].endswith("Z") and row["provider_batch_id"] == "msgbatch_01ABC"


# -- seobatch job ID -------------------------------------------------------------------------


def test_job_shows_the_breakdown_grouped_errors_tokens_and_costs(cli):
    job = completed_job()
    code, out, _ = cli("job", str(job.id))
    assert code == 0
    assert out.startswith(f"job {job.id}  completed")
    assert "claude-sonnet-4-5 (anthropic)" in out and "msgbatch_01ABC" in out
    assert "turnaround" in out
    # The item outcome breakdown
    assert "items (10)" in out
    assert "succeeded  3   30.0%" in out and "errored    6   60.0%" in out
    assert "expired    1   10.0%" in out
    # Errored items grouped by reason, most frequent first, with an example
    assert "errors (6 items, 3 reasons)" in out
    errors = out[out.index("errors ("):out.index("usage")]
    assert errors.index("3  invalid_output: title is N characters, needs N-N") < errors.index(
        "2  invalid_output: not JSON: …") < errors.index("1  invalid_request_error: max_tokens: N > N")
    assert "e.g. invalid_output: title is 75 characters" in errors
    # Tokens: 9 items with input (1000 each), 3 with output (50 each); cost at both prices
    assert "9,000 in, 150 out" in out
    batch = pricing.batch_cost("claude-sonnet-4-5", 9000, 150)
    interactive = pricing.interactive_cost("claude-sonnet-4-5", 9000, 150)
    assert f"${batch:.4f} at batch prices" in out
    assert f"interactive would be ${interactive:.4f}" in out and "50%)" in out
    # Metadata highlights and events
    assert "prompt_version  v1abc" in out
    assert "job_submitted" in out and "job_completed" in out and "delivered" in out


def test_job_json_gives_machine_readable_detail(cli):
    job = completed_job()
    code, out, _ = cli("job", str(job.id), "--json")
    assert code == 0
    d = json.loads(out)
    assert {"id", "status", "items", "errors", "tokens", "cost", "metadata", "events",
            "turnaround_seconds", "duration_seconds", "provider_batch_id", "error"} <= set(d)
    assert d["items"] == {"pending": 0, "succeeded": 3, "errored": 6, "expired": 1,
                          "canceled": 0, "failed": 0, "total": 10}
    assert [(g["reason"], g["count"]) for g in d["errors"]] == [
        ("invalid_output: title is N characters, needs N-N", 3),
        ("invalid_output: not JSON: …", 2),
        ("invalid_request_error: max_tokens: N > N", 1),
    ]
    assert d["tokens"] == {"input": 9000, "output": 150}
    cost = d["cost"]
    assert cost["priced"] is True and cost["recorded_usd"] == 0.0213
    assert cost["batch_usd"] == pytest.approx(pricing.batch_cost("claude-sonnet-4-5", 9000, 150))
    assert cost["savings_usd"] == pytest.approx(cost["interactive_usd"] - cost["batch_usd"])
    assert d["metadata"] == {"prompt_version": "v1abc"}
    assert [e["name"] for e in d["events"]] == ["job_submitted", "job_completed"]


def test_job_of_a_failed_job_shows_its_error_first(cli):
    job = SeoBatchJob.create(model="gemini-2.5-flash")
    job.mark_failed("PermanentError: gemini 400 INVALID_ARGUMENT (request id r-1)")
    code, out, _ = cli("job", str(job.id))
    assert code == 0
    assert out.splitlines()[1].strip() == (
        "error        PermanentError: gemini 400 INVALID_ARGUMENT (request id r-1)")
    assert "- (not submitted)" in out and "none yet" in out


def test_job_of_a_model_without_a_price_says_cost_unknown(cli):
    job = SeoBatchJob.create(model="gemini-9-ultra", status="submitting")
    add_items(job, [("succeeded", None)])
    job.mark_submitted("batches/x")
    job.mark_completed(succeeded=1)
    _, out, _ = cli("job", str(job.id))
    assert "cost         unknown: no price for gemini-9-ultra" in out
    _, out, _ = cli("job", str(job.id), "--json")
    assert json.loads(out)["cost"] == {"batch_usd": None, "interactive_usd": None,
                                       "savings_usd": None, "recorded_usd": None, "priced": False}


def test_job_of_an_unknown_id_is_a_one_line_error(cli):
    code, out, err = cli("job", "424242")
    assert code == 1 and out == ""
    assert err == "seobatch: error: no job with id 424242 (see `seobatch jobs`)\n"


def test_job_of_a_running_job_shows_pending_items_and_time_running(cli):
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status="submitting")
    add_items(job, [("pending", None)] * 2)
    job.mark_submitted("msgbatch_RUN")
    SeoBatchJob.update(created_at=utcnow() - timedelta(minutes=7)).where(
        SeoBatchJob.id == job.id).execute()
    _, out, _ = cli("job", str(job.id))
    assert "processing" in out.splitlines()[0]
    assert "pending    2  100.0%" in out and "running for  7m0" in out
    assert "cost         - (known once the results are saved)" in out


# -- reason grouping -------------------------------------------------------------------------


@pytest.mark.parametrize("reason, group", [
    ("invalid_output: description is 12 characters, needs 50-170",
     "invalid_output: description is N characters, needs N-N"),
    ("invalid_output: not JSON: \"it's fine\"", "invalid_output: not JSON: …"),
    ("invalid_output: title echoes an injection ('ignore previous')",
     "invalid_output: title echoes an injection (…)"),
    (None, "(no reason recorded)"),
    ("  ", "(no reason recorded)"),
])
def test_reasons_group_by_their_shape(reason, group):
    assert normalize_reason(reason) == group


def test_canceled_and_all_errored_jobs_read_as_such_in_jobs_job_and_the_event_data(cli):
    from seobatch.jobmeta import CANCELED_REASON

    # Given a job canceled while processing (12 done, 48 canceled: the row counts them as expired)
    stopped = SeoBatchJob.create(model="claude-sonnet-4-5", status="submitting")
    add_items(stopped, [("succeeded", None)] * 12 + [("canceled", None)] * 48)
    assert stopped.mark_submitted("msgbatch_stop")
    SeoBatchJob.update(metadata={**SeoBatchJob.get_by_id(stopped.id).metadata,
                                 "cancel_requested": "2026-12-01T06:00:00Z"}).where(
        SeoBatchJob.id == stopped.id).execute()
    stopped = SeoBatchJob.get_by_id(stopped.id)
    assert stopped.mark_completed(12, 0, 48, extra_metadata={"canceled_count": 48, "cost_usd": 0.01})
    # one canceled before submission, and one whose every item errored
    early = SeoBatchJob.create(model="claude-sonnet-4-5", status="collecting")
    early.mark_failed(CANCELED_REASON)
    wiped = SeoBatchJob.create(model="claude-sonnet-4-5", status="submitting")
    add_items(wiped, [("errored", "api_error: Internal server error")] * 20)
    assert wiped.mark_submitted("msgbatch_wiped")
    assert wiped.mark_completed(0, 20, 0, extra_metadata={"cost_usd": 0.0})
    # Then `jobs` reads them as canceled / all-errored, with canceled items in CANC, not EXP
    _, out, _ = cli("jobs")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert rows[str(stopped.id)][3:9] == ["canceled", "60", "12", "0", "0", "48"]
    assert rows[str(early.id)][3] == "canceled"
    assert rows[str(wiped.id)][3:9] == ["all-errored", "20", "0", "20", "0", "0"]
    # `job` says it in its header, and its item counts agree with the row's
    _, out, _ = cli("job", str(stopped.id))
    assert out.splitlines()[0].endswith("canceled (status completed)") and "the job recorded" not in out
    # And the event data carries the outcome and the canceled count apart (an alert can match)
    payload = SeoBatchJob.get_by_id(stopped.id).event_payload()
    assert (payload["outcome"], payload["expired_count"], payload["canceled_count"]) == ("canceled", 0, 48)
    assert SeoBatchJob.get_by_id(wiped.id).event_payload()["outcome"] == "all_errored"
    assert SeoBatchJob.get_by_id(early.id).event_payload()["status"] == "failed"  # the status stays


def jobs_of_every_reading() -> dict[str, SeoBatchJob]:
    """One job per way a job can read: canceled before and after submission, all-errored,
    a plain completed, failed and processing one, and completed ones whose metadata only
    looks like a cancel (a null or empty stamp) or that has no items at all."""
    from seobatch.jobmeta import CANCELED_REASON

    def ended(name: str, succeeded: int, errored: int, **meta) -> SeoBatchJob:
        job = SeoBatchJob.create(model="claude-sonnet-4-5", status="submitting")
        assert job.mark_submitted(f"msgbatch_{name}")
        if meta:
            SeoBatchJob.update(metadata={**SeoBatchJob.get_by_id(job.id).metadata, **meta}).where(
                SeoBatchJob.id == job.id).execute()
            job = SeoBatchJob.get_by_id(job.id)
        assert job.mark_completed(succeeded, errored, 0)
        return job

    early = SeoBatchJob.create(model="claude-sonnet-4-5", status="collecting")
    early.mark_failed(CANCELED_REASON)
    from_web = SeoBatchJob.create(model="claude-sonnet-4-5", status="collecting")
    from_web.mark_failed(f"{CANCELED_REASON} alice (web)")
    broken = SeoBatchJob.create(model="claude-sonnet-4-5", status="collecting")
    broken.mark_failed("boom")
    return {
        "early": early, "from_web": from_web, "broken": broken,
        "stopped": ended("stopped", 12, 0, cancel_requested="2026-12-01T06:00:00Z"),
        "stopped_all_errored": ended("stopped2", 0, 5, cancel_requested="2026-12-01T06:00:00Z"),
        "wiped": ended("wiped", 0, 20),
        "fine": ended("fine", 9, 1),
        "null_stamp": ended("null", 0, 3, cancel_requested=None),
        "empty_stamp": ended("empty", 4, 0, cancel_requested=""),
        "empty": ended("none", 0, 0),
        "running": SeoBatchJob.create(model="claude-sonnet-4-5", status="processing"),
    }


def test_jobs_filters_by_reading_as_the_status_column_shows_it(cli):
    # Given jobs that read canceled, all-errored and as their plain status
    made = jobs_of_every_reading()
    ids = {job.id: name for name, job in made.items()}
    # When `jobs` is asked for a reading, or for a status
    def shown(status: str) -> tuple[set[str], list[str], int]:
        code, out, _ = cli("jobs", "--status", status, "--limit", "50")
        assert code == 0
        lines = out.splitlines()[1:-1]
        _, data, _ = cli("jobs", "--status", status, "--json")
        rows = json.loads(data)
        assert rows["total"] == len(lines) == rows["shown"]
        return {ids[int(line.split()[0])] for line in lines}, sorted({line.split()[3] for line in lines}), rows["total"]

    # Then a reading keeps the jobs whose STATUS column says it (both spellings)
    assert shown("canceled") == ({"early", "from_web", "stopped", "stopped_all_errored"}, ["canceled"], 4)
    assert shown("all-errored") == ({"wiped", "null_stamp"}, ["all-errored"], 2)
    assert shown("all_errored")[0] == {"wiped", "null_stamp"}
    # And a status keeps every job stored in it, whatever it reads as
    assert shown("failed")[0] == {"early", "from_web", "broken"}
    assert shown("completed")[0] == {"stopped", "stopped_all_errored", "wiped", "fine", "null_stamp",
                                     "empty_stamp", "empty"}
    assert shown("processing")[0] == {"running"}
    _, out, _ = cli("jobs", "--status", "canceled", "--model", "gemini-2.5-flash")
    assert out.strip() == "no jobs with status canceled of model gemini-2.5-flash"


def test_the_reading_filter_in_sql_agrees_with_jobmeta_reading(any_db):
    from seobatch import reports
    from seobatch.jobmeta import reading

    jobs_of_every_reading()
    every = reports.list_jobs(limit=100)
    for status in reports.STATUS_FILTERS:
        kept = {r["id"] for r in reports.list_jobs(status=status, limit=100)}
        expected = {r["id"] for r in every if status in (r["status"], r["reading"])}
        assert kept == expected, status
        assert reports.count_jobs(status=status) == len(expected)
    assert {r["reading"] for r in every} >= {"canceled", "all_errored", "completed", "failed", "processing"}
    assert all(r["reading"] == reading(r["status"], SeoBatchJob.get_by_id(r["id"]).metadata, r["succeeded"],
                                       r["errored"]) for r in every)


def test_a_processing_jobs_counts_move_while_its_results_are_saved(cli):
    # Given a job whose results stage has saved 3 of its 5 items so far
    job = SeoBatchJob.create(model="claude-sonnet-4-5", status="submitting", total_pages=5)
    add_items(job, [("succeeded", None)] * 2 + [("errored", "invalid_output: x")] + [("pending", None)] * 2)
    assert job.mark_submitted("msgbatch_live")
    # Then `jobs` and `job --json` show the saved outcomes, not the row's zeros
    _, out, _ = cli("jobs")
    assert out.splitlines()[1].split()[3:9] == ["processing", "5", "2", "1", "0", "0"]
    _, out, _ = cli("job", str(job.id), "--json")
    assert (json.loads(out)["succeeded"], json.loads(out)["errored"]) == (2, 1)
