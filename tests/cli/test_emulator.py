"""``seobatch emulator`` as an operator runs it: a real process, stopped with Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest
import requests

from seobatch.cli import build_parser
from seobatch.config import Settings
from seobatch.errors import ConfigError


def test_the_emulator_command_prints_its_url_and_env_serves_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "seobatch", "emulator", "--port", "0", "--processing-seconds", "0",
         "--error-rate", "0.5", "--faults", json.dumps({"http_errors": {"list": [503]}})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        url = first.split("listening on ")[1].split()[0]
        lines = [proc.stdout.readline() for _ in range(3)]
        assert f"  export ANTHROPIC_BASE_URL={url}\n" in lines
        assert f"  export GOOGLE_GEMINI_BASE_URL={url}\n" in lines

        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        assert requests.get(f"{url}/v1/messages/batches", headers=headers, timeout=5).status_code == 503
        assert requests.get(f"{url}/_emulator/faults", timeout=5).json()["error_rate"] == 0.5
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "emulator stopped" in out


def test_bad_fault_flags_are_refused_with_a_clear_error():
    # Parsed and run without main(), which would install log handlers on pytest's streams.
    for argv, needle in (
        (["--error-rate", "2"], "error_rate must be between 0 and 1"),
        (["--faults", "{oops"], "--faults is not valid JSON"),
        (["--faults", '{"http_errors": {"create": [200]}}'], "not an HTTP error status"),
    ):
        args = build_parser().parse_args(["emulator", "--port", "0", *argv])
        with pytest.raises(ConfigError, match=re.escape(needle)):
            args.func(args, Settings())
