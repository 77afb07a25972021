"""Real processes for the fault suite: a ``dramatiq actors`` worker, a private Redis
server (that a test may restart or misconfigure), and scans of what Redis holds."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port
from tests.support.services import IN_CI
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _threads(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Worker:
    """``dramatiq actors`` as operators run it (the Procfile's command), one process."""

    def __init__(self, env: dict[str, str], log_path: Path, *, threads: int = 2) -> None:
        self.log_path = log_path
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "actors", "--processes", "1", "--threads", str(threads),
             "--queues", "seobatch", "--worker-shutdown-timeout", "20000"],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def worker_child(self, timeout: float = 20) -> int:
        """The worker process the master forked (not the metrics fork: it has the threads)."""
        def find():
            kids = [(_threads(p), p) for p in _children(self.proc.pid)]
            busy = [k for k in kids if k[0] >= 3]
            return max(busy)[1] if busy else None

        return wait_for(find, timeout, what="the worker child process")

    def kill_child(self) -> int:
        """SIGKILL the worker child (as the OOM killer would); returns the master's exit code."""
        os.kill(self.worker_child(), signal.SIGKILL)
        return self.proc.wait(20)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        else:  # the master is gone; make sure no orphan of its group lingers
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")


class RedisServer:
    """A private ``redis-server`` on a free port: restartable, configurable, ours alone."""

    port: int
    args: tuple[str, ...]
    url: str

    def __init__(self, tmp: Path, *args: str) -> None:
        if not shutil.which("redis-server"):
            message = "redis-server is not installed"
            if IN_CI:
                pytest.fail(f"{message} (CI=true: this test must run)")
            pytest.skip(message)
        self.dir = tmp
        self.extra = args
        self.proc: subprocess.Popen | None = None
        self.started = False
        self._use_port(free_port())

    def _use_port(self, port: int) -> None:
        self.port = port
        self.args = ("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(self.dir), *self.extra)
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> RedisServer:
        for _ in range(3):
            self.proc = subprocess.Popen(["redis-server", *self.args], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
            wait_for(lambda: self._answers() or self.proc.poll() is not None, 10,
                       what="redis-server to answer")
            if self._answers():
                self.started = True
                return self
            if self.started:  # a restart must keep its port (clients reconnect to it)
                break
            self._use_port(free_port())  # someone took the port first: another one
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        """A crash and restart without persistence: every queued message is gone."""
        self.stop()
        self.start()


def redis_dump(url: str, namespace: str) -> str:
    """Every key of the namespace and every value in it, as text (for canary scans)."""
    import redis

    client = redis.Redis.from_url(url)
    parts: list[str] = []
    try:
        for key in client.scan_iter(f"{namespace}*"):
            kind = client.type(key).decode()
            if kind == "string":
                value: Any = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            else:
                value = kind
            parts.append(f"{key!r}: {value!r}")
    finally:
        client.close()
    return "\n".join(parts)
