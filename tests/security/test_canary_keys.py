"""S1: canary API keys through every failure path: they appear nowhere.

The fault suite already checks every test's log records and database rows for the
canaries (tests/faults/conftest.py) and the worker-process tests scan their logs and
Redis. Here: exception text and reprs of every client failure, the Gemini key never in
a URL, and a worker process whose failures leave tracebacks in Redis, a failed job's
metadata and a job_failed event — all scanned.
"""

from __future__ import annotations

import traceback

import pytest

from seobatch.emulator import Emulator
from seobatch.errors import SeobatchError
from seobatch.providers import get_provider
from seobatch.providers.base import BatchInfo, BatchRequest

from tests.faults import golden
from tests.faults.procs import Worker, redis_dump, wait_until
from tests.faults.support import CANARIES, MODELS, fault_settings, run_ended, seed_pages
from tests.faults.test_worker_process import assert_no_canaries, first_job, seobatch, worker_env

pytestmark = pytest.mark.timeout(90)

FAULTS = [400, 401, 403, 404, 429, 500, 503, 529, "drop", "hang", "spend_limit"]


def _texts(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))])


def _calls(client, provider: str):
    requests = [BatchRequest("p1", client.build_request("p1", _prompt(), model=MODELS[provider], max_tokens=50).body)]
    batch = BatchInfo(id="msgbatch_x" if provider == "anthropic" else "batches/x", state="ended",
                      provider_state="ended", ending="succeeded")
    from datetime import datetime

    return {
        "create": lambda: client.create_batch(requests, model=MODELS[provider], display_name="s1"),
        "get": lambda: client.get_batch(batch.id),
        "list": lambda: client.find_batches(display_name="s1", created_after=datetime(2020, 1, 1), request_count=1),
        "cancel": lambda: client.cancel_batch(batch.id),
        "results": lambda: list(client.iter_results(batch)),
    }


def _prompt():
    from seobatch.providers.base import Prompt

    return Prompt(system="Write SEO.", user="URL: https://example.com/\nTitle: Example page")


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_s1_no_client_failure_puts_a_key_in_exception_text_or_reprs(provider):
    """S1: every operation × every fault (4xx, 5xx, 529, spend limit, dropped and hanging
    connections, and a key the server refuses) → the exception's text, repr, args and
    formatted traceback carry no key; nor do the client's and the settings' reprs."""
    with Emulator(api_key="the-only-key-this-server-takes").start() as refusing, Emulator().start() as emu:
        seen = 0
        for server, faults in ((refusing, [None]), (emu, FAULTS)):
            settings = fault_settings(server, http_timeout=0.3, http_retries=0)
            client = get_provider(MODELS[provider], settings)
            assert_no_canaries(repr(client), repr(settings), str(settings))
            for fault in faults:
                for op, call in _calls(client, provider).items():
                    if fault is not None:
                        server.set_faults(http_errors={op if op != "results" else
                                                       ("results" if provider == "anthropic" else "get"): [fault]},
                                          hang=False)
                    try:
                        call()
                    except (SeobatchError, Exception) as exc:  # noqa: BLE001 - every kind is scanned
                        seen += 1
                        assert_no_canaries(_texts(exc))
                    server.set_faults(http_errors={}, hang=False)
        assert seen >= 40
        assert emu.stats()["key_in_query"] == 0 and refusing.stats()["key_in_query"] == 0


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_s1_a_failing_gemini_run_in_a_worker_leaks_the_key_nowhere(
    pg_db, redis_url, redis_namespace, tmp_path
):
    """S1: a Gemini run in a worker process whose poll fails (a retry with its traceback
    stored in Redis) and whose results are refused (the job fails with a reason and a
    job_failed event) → no canary in Redis (messages, tracebacks), the database (jobs'
    metadata, events' payloads), the worker's log, `seobatch job`; the key never in a URL."""
    with Emulator().start() as emulator:
        seed_pages(4)
        env = worker_env(pg_db, redis_url, redis_namespace, emulator, SEOBATCH_HTTP_RETRIES="0",
                         SEOBATCH_MODEL=MODELS["gemini"])
        emulator.set_faults(http_errors={"gemini.get": [503, {"status": 403}, 403, 403]})
        assert seobatch(env, "run").returncode == 0
        job_id = first_job().id
        worker = Worker(env, tmp_path / "worker.log")
        try:
            dump = wait_until(lambda: (d := redis_dump(redis_url, redis_namespace)) and "traceback" in d and d,
                              30, what="a retry with its traceback in Redis")
            assert_no_canaries(dump)
            wait_until(lambda: run_ended(job_id), 40, interval=0.2, what="the run to end")
            wait_until(lambda: golden.undelivered_events() == 0, 10, what="events delivered")
        finally:
            worker.stop()
        job = first_job()
        assert job.status == "failed" and "403" in job.metadata["error"]
        shown = seobatch(env, "job", str(job_id))
        from tests.faults.support import dump_tables

        assert_no_canaries(dump_tables(), worker.text(), redis_dump(redis_url, redis_namespace),
                           shown.stdout + shown.stderr)
        assert emulator.stats()["key_in_query"] == 0
        for canary in CANARIES:
            assert canary not in str(job.metadata)
