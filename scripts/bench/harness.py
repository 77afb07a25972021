"""Drive one benchmark run: schema, emulator, one child process per stage, floor, report.

The parent never touches the pipeline's data itself: every measured piece runs in a
child (``child.py``, run as a script) whose peak RSS comes from ``wait4``. The emulator runs
in its own process too, so its memory is reported apart from the pipeline's; its peak
is reset before each stage (``/proc/PID/clear_refs``) to give a per-stage figure.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import requests
from playhouse.db_url import parse
from psycopg2 import sql

from seobatch.config import Settings
from seobatch.jobmeta import JobStatus

#: The child of every measured role, run as a script (its siblings import as top-level modules).
CHILD = str(Path(__file__).resolve().with_name("child.py"))
DEFAULT_PG_URL = "postgresql://root@127.0.0.1:5432/test"
MODELS = {"anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
STAGES = ("kickoff", "collect", "submit", "poll", "results")
#: Stages with database work worth a floor (kickoff and poll send a statement or two per job).
FLOORED = ("collect", "submit", "results")
#: The benchmark's targets: end to end within 2x the database floor, each process under 250 MB.
MAX_RATIO = 2.0
MAX_RSS_MB = 250.0
BENCH_KEY = "bench-not-a-real-key"


class BenchError(RuntimeError):
    pass


@dataclass
class Row:
    name: str
    seconds: float
    queries: int
    rss_mb: float
    items: int
    floor_seconds: float | None = None
    emulator_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.floor_seconds if self.floor_seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3), "items_per_s": round(self.per_second, 1),
            "queries": self.queries, "peak_rss_mb": round(self.rss_mb, 1),
            "floor_seconds": None if self.floor_seconds is None else round(self.floor_seconds, 3),
            "ratio": None if self.ratio is None else round(self.ratio, 2),
            "emulator_peak_rss_mb": None if self.emulator_rss_mb is None else round(self.emulator_rss_mb, 1),
            **self.extra,
        }


# --------------------------------------------------------------------------- processes


def run_child(role: str, args: dict[str, Any], env: dict[str, str], timeout: float) -> tuple[dict[str, Any], float]:
    """Run one child role; returns its JSON answer (with ``cpu_seconds``: user + system time
    of the whole child) and its own peak RSS in MB."""
    proc = subprocess.Popen(
        [sys.executable, CHILD, role, json.dumps(args)],
        stdout=subprocess.PIPE, env=env,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        out = proc.stdout.read().decode() if proc.stdout else ""
        # wait4, not wait(): the rusage of this child alone (ru_maxrss is in KB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        if proc.stdout:
            proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    what = f"{role} {args.get('stage', '')}".strip()
    if proc.returncode != 0:
        raise BenchError(f"{what} exited with status {proc.returncode} (see its errors above)")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"{what} printed no result")
    answer = json.loads(lines[-1])
    answer["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return answer, usage.ru_maxrss / 1024.0


class EmulatorProcess:
    """``seobatch emulator`` in a process of its own, finishing every batch at once."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seobatch", "emulator", "--port", "0", "--processing-seconds", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        self.url = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                break
        if not self.url:
            self.stop()
            raise BenchError("the emulator did not start")
        # Keep reading its stdout so it never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def reset_peak(self) -> None:
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM (peak RSS) on Linux
        except OSError:
            pass

    def peak_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> float:
        """User + system CPU time the emulator has used so far (0 when unknown)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def stats(self) -> dict[str, Any]:
        try:
            return requests.get(f"{self.url}/_emulator/stats", timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- database


class Sandbox:
    """A schema of the benchmark's own (PostgreSQL) or a scratch file (SQLite), dropped after."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.schema: str | None = None
        self.path: str | None = None
        if base_url.startswith("postgres"):
            self.schema = f"seobatch_bench_{os.getpid()}_{secrets.token_hex(3)}"
            self._pg("CREATE SCHEMA {}")
            sep = "&" if "?" in base_url else "?"
            self.url = f"{base_url}{sep}options=-csearch_path%3D{self.schema}"
        elif base_url.startswith("sqlite"):
            fd, self.path = tempfile.mkstemp(prefix="seobatch-bench-", suffix=".db")
            os.close(fd)
            self.url = f"sqlite:///{self.path}"
        else:
            raise BenchError("--database-url must be postgresql://… or sqlite:///…")

    def _pg(self, template: str) -> None:
        """Run ``template`` with the sandbox schema's name quoted in as an identifier."""
        params = parse(self.base_url)
        conn = psycopg2.connect(dbname=params.pop("database"), **params)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL(template).format(sql.Identifier(self.schema)))
        finally:
            conn.close()

    def drop(self) -> None:
        if self.schema:
            self._pg("DROP SCHEMA IF EXISTS {} CASCADE")
        if self.path:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(self.path + suffix)
                except OSError:
                    pass


# --------------------------------------------------------------------------- the run


def child_env(sandbox_url: str, emulator_url: str, provider: str, chunk_size: int | None,
              quality: bool = True, revisions: bool = True, site_stage: bool = True) -> dict[str, str]:
    """The environment of every child: our database, the emulator, polls that never wait."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEOBATCH_", "ANTHROPIC_", "GEMINI_", "GOOGLE_GEMINI_"))
           and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DATABASE_URL": sandbox_url,
        "ANTHROPIC_API_KEY": BENCH_KEY, "GEMINI_API_KEY": BENCH_KEY,
        "ANTHROPIC_BASE_URL": emulator_url, "GOOGLE_GEMINI_BASE_URL": emulator_url,
        "SEOBATCH_MODEL": MODELS[provider],
        # The emulator finishes at once: the first poll is due immediately.
        "SEOBATCH_POLL_INTERVAL": "0", "SEOBATCH_POLL_MAX_INTERVAL": "1",
    })
    if chunk_size:
        env["SEOBATCH_CHUNK_SIZE"] = str(chunk_size)
    if not quality:  # what the quality gate costs: the results stage without it
        env["SEOBATCH_QUALITY_GATE"] = "false"
    if not revisions:  # what revisions cost: the results stage writing the pages alone (no_revisions.py)
        env["BENCH_NO_REVISIONS"] = "1"
    if not site_stage:
        env["BENCH_NO_SITE_STAGE"] = "1"
    return env


def run_bench(
    *, pages: int, database_url: str, provider: str = "anthropic",
    chunk_size: int | None = None, timeout: float = 3600.0, profile: str | None = None,
    quality: bool = True, revisions: bool = True, site_stage: bool = True,
) -> dict[str, Any]:
    """Seed, run every stage in its own process, measure the floor, clean up; the figures."""
    if provider not in MODELS:
        raise BenchError(f"--provider must be one of {', '.join(MODELS)}")
    if pages < 1:
        raise BenchError("--pages must be at least 1")
    sandbox = Sandbox(database_url)
    emu: EmulatorProcess | None = None
    try:
        emu = EmulatorProcess(child_env(sandbox.url, "http://127.0.0.1", provider, chunk_size))
        env = child_env(sandbox.url, emu.url, provider, chunk_size, quality, revisions, site_stage)
        chunk = Settings.from_env(env).chunk_size
        seeded, seed_rss = run_child("seed", {"pages": pages}, env, timeout)
        rows: list[Row] = []
        floor: dict[str, Any] = {}
        steps: list[dict[str, Any]] = []
        for name in STAGES:
            emu.reset_peak()
            emu_cpu = emu.cpu_seconds()
            args: dict[str, Any] = {"stage": name, "steps": steps, "timeout": timeout}
            if profile and name in profile.split(","):
                args["profile"] = os.path.abspath(f"bench-profile-{name}.txt")
            out, rss = run_child("stage", args, env, timeout)
            steps = out["steps"]
            row = Row(name, out["seconds"], out["queries"], rss, pages,
                      emulator_rss_mb=emu.peak_mb(),
                      extra={"runs": out["runs"], "cpu_seconds": round(out["cpu_seconds"], 2),
                             "emulator_cpu_seconds": round(emu.cpu_seconds() - emu_cpu, 2)})
            if name in FLOORED:
                measured, floor_rss = run_child("floor", {"stage": name}, env, timeout)
                row.floor_seconds = measured["seconds"]
                floor[name] = measured["seconds"]
                floor["queries"] = floor.get("queries", 0) + measured["queries"]
                floor["peak_rss_mb"] = max(floor.get("peak_rss_mb", 0.0), floor_rss)
            rows.append(row)
        if steps:
            raise BenchError(f"the run left steps nobody ran: {steps[:3]}")
        verify, _ = run_child("verify", {}, env, timeout)
        emulator_stats = emu.stats().get(provider, {})
    finally:
        if emu is not None:
            emu.stop()
        sandbox.drop()
    return summarise(
        pages=pages, provider=provider, database_url=database_url, chunk=chunk, rows=rows,
        seeded=seeded, seed_rss=seed_rss, floor=floor, verify=verify,
        emulator_stats=emulator_stats,
    )


def summarise(*, pages: int, provider: str, database_url: str, chunk: int, rows: list[Row],
              seeded: dict[str, Any], seed_rss: float, floor: dict[str, Any],
              verify: dict[str, Any], emulator_stats: dict[str, Any]) -> dict[str, Any]:
    total_seconds = sum(r.seconds for r in rows)
    floor_total = sum(float(floor[k]) for k in ("collect", "submit", "results"))
    peak = max(r.rss_mb for r in rows)
    emu_peak = max((r.emulator_rss_mb or 0.0) for r in rows)
    ratio = total_seconds / floor_total if floor_total else None
    jobs = sum(verify.get("jobs", {}).values())
    complete = verify.get("pages_with_seo") == pages and verify.get("jobs", {}).get(JobStatus.COMPLETED) == jobs
    targets = {
        "ratio": None if ratio is None else round(ratio, 2), "max_ratio": MAX_RATIO,
        "ratio_ok": ratio is not None and ratio <= MAX_RATIO,
        "peak_rss_mb": round(peak, 1), "max_rss_mb": MAX_RSS_MB, "rss_ok": peak <= MAX_RSS_MB,
        "emulator_peak_rss_mb": round(emu_peak, 1),
        "complete": complete,
    }
    return {
        "pages": pages, "provider": provider, "model": MODELS[provider],
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "chunk_size": chunk, "jobs": jobs,
        "seed": {"seconds": round(seeded["seconds"], 3), "peak_rss_mb": round(seed_rss, 1)},
        "stages": {r.name: r.as_dict() for r in rows},
        "total": {"seconds": round(total_seconds, 3), "items_per_s": round(pages / total_seconds, 1),
                  "cpu_seconds": round(sum(r.extra.get("cpu_seconds", 0.0) for r in rows), 2),
                  "emulator_cpu_seconds": round(sum(r.extra.get("emulator_cpu_seconds", 0.0) for r in rows), 2),
                  "queries": sum(r.queries for r in rows), "peak_rss_mb": round(peak, 1),
                  "floor_seconds": round(floor_total, 3), "ratio": targets["ratio"]},
        "floor": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in floor.items()},
        "verify": verify,
        "emulator": {k: emulator_stats.get(k) for k in ("batches_created", "requests_created", "create",
                                                        "results", "bytes_uploaded", "bytes_downloaded")
                     if k in emulator_stats},
        "targets": targets,
        "ok": bool(targets["ratio_ok"] and targets["rss_ok"] and complete),
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_report(result: dict[str, Any]) -> str:
    """The human-readable table."""
    lines = [
        f"seobatch bench: {result['pages']} pages, {result['provider']} ({result['model']}), "
        f"{result['database']}, chunk {result['chunk_size']}, {result['jobs']} job(s)",
        f"seeded in {result['seed']['seconds']:.1f}s (set-up, not measured)",
        "",
        f"{'stage':<9}{'seconds':>9}{'items/s':>10}{'queries':>9}{'q/chunk':>9}{'RSS MB':>8}"
        f"{'cpu s':>7}{'emu MB':>8}{'emu cpu':>8}{'floor s':>9}{'x floor':>9}",
    ]
    chunks = max(1, -(-result["pages"] // result["chunk_size"]))
    for name, row in [*result["stages"].items(), ("total", result["total"])]:
        lines.append(
            f"{name:<9}{row['seconds']:>9.2f}{row['items_per_s']:>10.0f}{row['queries']:>9}"
            f"{row['queries'] / chunks:>9.1f}{row['peak_rss_mb']:>8.0f}"
            f"{_fmt(row.get('cpu_seconds'), '.1f'):>7}"
            f"{_fmt(row.get('emulator_peak_rss_mb'), '.0f'):>8}{_fmt(row.get('emulator_cpu_seconds'), '.1f'):>8}"
            f"{_fmt(row['floor_seconds'], '.2f'):>9}"
            f"{_fmt(row['ratio'], '.2f'):>9}"
        )
    t, v = result["targets"], result["verify"]
    mark = {True: "ok", False: "MISSED"}
    lines += [
        "",
        f"floor: collect {result['floor']['collect']:.2f}s, submit {result['floor']['submit']:.2f}s, "
        f"results {result['floor']['results']:.2f}s ({result['floor']['queries']} statements)",
        f"pages with SEO: {v.get('pages_with_seo')}/{result['pages']}; jobs {v.get('jobs')}; items {v.get('items')}",
        f"emulator: {result['emulator']}",
        f"target end to end <= {t['max_ratio']}x floor: {_fmt(t['ratio'], '.2f')}x {mark[t['ratio_ok']]}; "
        f"peak RSS <= {t['max_rss_mb']:.0f} MB: {t['peak_rss_mb']:.0f} MB {mark[t['rss_ok']]} "
        f"(emulator {t['emulator_peak_rss_mb']:.0f} MB, its own process); "
        f"every page done: {mark[t['complete']]}",
    ]
    if v.get("failed_jobs") or v.get("sample_errors"):
        lines.append(f"failures: {v.get('failed_jobs')} {v.get('sample_errors')}")
    return "\n".join(lines)
