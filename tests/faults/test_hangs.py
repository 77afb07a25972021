"""R8: a server that hangs, drips bytes, or never finishes: every wait is bounded, the
worker thread comes back, the stage is retried, and the run ends like the golden one."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import dramatiq
import pytest

from actors import send_steps
from seobatch.errors import TransientError
from seobatch.models import SeoBatchItem, SeoBatchJob
from seobatch.stages import Step
from seobatch.stages.collect import collect
from seobatch.stages.poll import poll
from seobatch.stages.submit import submit

from tests.faults import golden
from tests.faults.proxy import DripProxy
from tests.faults.support import fault_settings, golden_run, kickoff_run, run_steps, stopwatch, wait_run
from tests.support.pipeline import drive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, dramatiq.worker._WorkerThread) and t.is_alive()]


def test_r8_a_poll_against_a_hanging_server_gives_up_within_its_deadline(sqlite_db, emulator):
    """R8: the provider accepts the connection and never answers → the poll stage raises
    a TransientError within (read timeout × attempts + backoff + 2 s), no thread is left
    behind, and once the server answers again the run ends like the golden one."""
    settings = fault_settings(emulator, http_timeout=0.5, http_retries=1)
    want = golden_run(emulator, settings, 5)
    job_id = kickoff_run(settings)
    collect(job_id, settings=settings)
    submit(job_id, settings=settings)
    assert SeoBatchJob.get_by_id(job_id).status == "processing"
    emulator.set_faults(hang=["get"])
    threads_before = threading.active_count()
    elapsed = stopwatch()
    with pytest.raises(TransientError) as info:
        poll(job_id, settings=settings)
    # The server hangs until its faults change: bounded by read timeout × attempts +
    # backoff, with a margin a loaded 2-core CI machine keeps to.
    assert elapsed() <= 0.5 * 2 + 0.5 + 10.0
    assert "timed out" in str(info.value)
    assert emulator.stats()["faults"]["hangs"] == 2
    assert SeoBatchJob.get_by_id(job_id).status == "processing"
    emulator.set_faults(hang=False)
    wait_for(lambda: threading.active_count() <= threads_before, 30)
    drive([Step("poll", job_id)], settings)
    golden.assert_same(golden.snapshot(), want)


def test_r8_a_hanging_results_download_is_retried_by_the_actor_until_it_answers(sqlite_db, emulator, fast_retries):
    """R8: the results download hangs → each attempt times out, the actor retries with
    backoff, its four threads stay alive; when the server recovers the run completes."""
    from actors.broker import use_in_process

    settings = fault_settings(emulator, http_timeout=0.5, http_retries=0)
    want = golden_run(emulator, settings, 6)
    broker = use_in_process(settings)
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=50)
    worker.start()
    try:
        emulator.set_faults(hang=["results"])
        job_id = kickoff_run(settings)
        send_steps(run_steps(job_id))
        wait_for(lambda: emulator.stats()["faults"]["hangs"] >= 2, 20)
        assert SeoBatchItem.select().where(SeoBatchItem.status != "pending").count() == 0
        assert len(worker_threads()) == 4
        emulator.set_faults(hang=False)
        wait_run(job_id)
        assert len(worker_threads()) == 4
    finally:
        worker.stop()
        broker.close()
    golden.assert_same(golden.snapshot(), want)


def test_r8_a_results_stream_that_drips_is_cut_off_by_the_wall_clock_deadline(sqlite_db, emulator, worker):
    """R8: the results arrive one byte every 0.1 s (each read is quick, so a read timeout
    never fires) → the download is abandoned at the results deadline, nothing of it is
    saved, and the retry reads the whole stream: same tables as the golden run."""
    with DripProxy(emulator.url, drip=r"/results", drip_interval=0.1, drip_times=0) as proxy:
        settings = fault_settings(None, anthropic_base_url=proxy.url, gemini_base_url=proxy.url,
                                  results_deadline=1.0, http_timeout=2.0)
        from actors.broker import runtime

        runtime.settings = settings
        want = golden_run(emulator, settings, 6)
        proxy.drip_times = 1  # from now on: the next results download drips
        elapsed = stopwatch()
        job_id = kickoff_run(settings)
        send_steps(run_steps(job_id))
        wait_run(job_id, timeout=40)
        assert proxy.dripped == 1
        # A whole dripped stream would take minutes; the deadline ends it far sooner
        # (the bound leaves room for the retry's backoff on a loaded machine).
        assert elapsed() < 40
    assert emulator.stats()["anthropic"]["results"] == 2
    golden.assert_same(golden.snapshot(), want)


def _calls_without_timeout(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr not in ("request", "get", "post", "put", "patch", "delete", "head", "urlopen"):
            continue
        owner = ast.unparse(node.func.value)
        if not (owner == "requests" or "session" in owner.lower() or owner in ("urllib.request", "http")):
            continue
        if not any(k.arg == "timeout" for k in node.keywords):
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            found.append(f"{where}:{node.lineno}: {ast.unparse(node.func)}(…) has no timeout")
    return found


def test_r8_every_http_call_in_the_code_has_a_timeout(tmp_path):
    """R8: like pylint's W3101 (missing-timeout): no requests/session call without
    ``timeout=`` in seobatch/, actors/ or scripts/ — requests waits forever by default."""
    files = [p for top in ("seobatch", "actors", "scripts") for p in (ROOT / top).rglob("*.py")]
    assert files
    assert [f for p in files for f in _calls_without_timeout(p)] == []
    sample = tmp_path / "w3101_sample.py"  # the scan itself must be able to fail
    sample.write_text("import requests\nrequests.get('http://x')\nself.session.request('GET', u, timeout=3)\n")
    assert len(_calls_without_timeout(sample)) == 1
