"""scripts/bench.py end to end with a tiny N: every stage runs and the JSON line has its shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2

from tests.support.services import PG_BASE_URL, require_service

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["kickoff", "collect", "submit", "poll", "results"]
STAGE_KEYS = {"seconds", "items_per_s", "queries", "peak_rss_mb", "floor_seconds", "ratio",
              "emulator_peak_rss_mb", "runs", "cpu_seconds", "emulator_cpu_seconds"}


def _bench_schemas() -> set[str]:
    conn = psycopg2.connect(PG_BASE_URL.split("?", 1)[0])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'seobatch_bench_%%'")
            return {name for (name,) in cursor.fetchall()}
    finally:
        conn.close()


def test_bench_runs_every_stage_on_postgresql_and_prints_one_json_line():
    require_service("PostgreSQL", PG_BASE_URL, 5432)
    before = _bench_schemas()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--pages", "200", "--chunk-size", "50",
         "--database-url", PG_BASE_URL, "--json",
         "--no-quality"],  # the bench's word-soup pages would fail the gate's language check
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: a target missed, which tiny N may do
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])

    assert result["pages"] == 200 and result["chunk_size"] == 50 and result["database"] == "postgresql"
    assert list(result["stages"]) == STAGES
    for name, row in result["stages"].items():
        assert STAGE_KEYS <= set(row), name
        assert row["runs"] >= 1 and row["queries"] > 0 and row["peak_rss_mb"] > 0, (name, row)
    for name in ("collect", "submit", "results"):
        assert result["stages"][name]["floor_seconds"] > 0 and result["stages"][name]["ratio"] > 0
    # Statements grow with the chunks, never with the items: 4 chunks here.
    assert result["stages"]["collect"]["queries"] < 200 and result["stages"]["results"]["queries"] < 200
    assert result["verify"]["pages_with_seo"] == 200
    assert result["verify"]["items"] == {"succeeded": 200}
    assert result["targets"]["complete"] is True
    assert {"ratio", "ratio_ok", "peak_rss_mb", "rss_ok"} <= set(result["targets"])
    assert isinstance(result["ok"], bool)
    assert _bench_schemas() == before  # it dropped its schema
