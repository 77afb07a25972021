"""Start-up checks of `dramatiq actors` as operators run it: a database it cannot use stops
the worker at once, in one line; a second worker on the host keeps running without metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.pipeline import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SEOBATCH_REDIS_NAMESPACE=namespace,
               ANTHROPIC_API_KEY=TEST_KEY, dramatiq_prom_port=str(free_port()))
    env.update(extra)
    return env


def _worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "actors", "--processes", "1", "--threads", "1", "--queues", "seobatch"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ""


@pytest.mark.parametrize("case", ["unreachable", "no schema"])
def test_a_worker_without_a_usable_database_says_so_in_one_line_and_exits_non_zero(
    case, redis_url, redis_namespace, tmp_path
):
    if case == "unreachable":
        url = f"postgresql://root@127.0.0.1:{free_port()}/nowhere"
        expected = "cannot connect to the database"
    else:
        (tmp_path / "empty.db").write_bytes(b"")  # exists, but no seobatch tables
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        expected = "has no seobatch tables"
    proc = _worker(_env(url, redis_url, redis_namespace))
    try:
        code = proc.wait(60)
    finally:
        out = _stop(proc)
    assert code != 0, out
    lines = [line for line in out.splitlines() if "worker cannot start" in line]
    assert len(lines) == 1 and expected in lines[0], out
    if case == "no schema":
        assert "`seobatch db init`" in lines[0]
    # (the metrics exposition fork may start before the master shuts down: only the worker counts)
    worker_ready = [line for line in out.splitlines() if "WorkerProcess" in line and "ready for action" in line]
    assert "Traceback" not in out and not worker_ready, out


def test_a_second_worker_on_the_host_keeps_running_when_the_metrics_port_is_taken(
    pg_db, redis_url, redis_namespace
):
    pytest.importorskip("prometheus_client")
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen()
    port = taken.getsockname()[1]
    proc = _worker(_env(pg_db, redis_url, redis_namespace, dramatiq_prom_port=str(port)))
    try:
        time.sleep(8)  # the worker boots and its metrics fork tries the port
        assert proc.poll() is None  # the worker still runs
    finally:
        out = _stop(proc)
        taken.close()
    assert "is in use (another worker on this host?)" in out, out
    assert "Address already in use" not in out and "Traceback" not in out, out
