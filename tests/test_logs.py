"""Log lines: readable text by default, one JSON object per line on request, never a secret."""

from __future__ import annotations

import io
import json
import logging

import pytest

from seobatch.config import Settings
from seobatch.errors import ConfigError
from seobatch.logs import REDACTED, setup_logging

CANARY = "sk-ant-api03-CANARYcanary0123456789"


@pytest.fixture
def root_logging():
    """Give the test the root logger and put its handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {h: list(h.filters) for h in handlers}
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        handler.filters[:] = filters[handler]
    root.setLevel(level)


def _capture(root: logging.Logger) -> io.StringIO:
    ours = [h for h in root.handlers if getattr(h, "_seobatch", False)]
    assert len(ours) == 1, "setup_logging adds exactly one handler of its own"
    stream = io.StringIO()
    ours[0].setStream(stream)
    return stream


def test_json_format_writes_one_parseable_object_per_record(root_logging):
    # Given JSON logging
    setup_logging(logging.INFO, (), "json")
    stream = _capture(root_logging)
    # When a transition line and a plain line are logged
    logging.getLogger("seobatch.jobs").info(
        "job_transition job_id=%s from=%s to=%s provider_batch_id=%s succeeded=%s",
        7, "processing", "completed", "msgbatch_01", 42,
    )
    logging.getLogger("seobatch.other").warning("something odd: %s", "details here")
    # Then every line is a JSON object with the standard keys
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["level"] == "INFO" and first["logger"] == "seobatch.jobs"
    assert first["ts"].endswith("Z")
    # And a key=value message becomes fields, numbers as numbers
    assert first["event"] == "job_transition"
    assert (first["job_id"], first["from"], first["to"]) == (7, "processing", "completed")
    assert (first["provider_batch_id"], first["succeeded"]) == ("msgbatch_01", 42)
    assert second["msg"] == "something odd: details here" and "event" not in second


def test_json_format_redacts_a_canary_key_in_message_and_traceback(root_logging):
    setup_logging(logging.INFO, (CANARY,), "json")
    stream = _capture(root_logging)
    log = logging.getLogger("seobatch.test")
    log.error("calling with key %s", CANARY)
    try:
        raise RuntimeError(f"boom {CANARY}")
    except RuntimeError:
        log.exception("request failed")
    text = stream.getvalue()
    assert CANARY not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["msg"] == f"calling with key {REDACTED}"
    assert "RuntimeError: boom [REDACTED]" in records[1]["msg"]


def test_text_format_stays_the_default_and_redacts(root_logging):
    setup_logging(logging.INFO, (CANARY,))
    stream = _capture(root_logging)
    logging.getLogger("seobatch.jobs").info("job_transition job_id=%s key=%s", 3, CANARY)
    line = stream.getvalue().strip()
    assert line.endswith(f"INFO seobatch.jobs: job_transition job_id=3 key={REDACTED}")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_calling_setup_twice_switches_format_without_a_second_handler(root_logging):
    setup_logging(logging.INFO, (), "text")
    setup_logging(logging.INFO, (), "json")
    stream = _capture(root_logging)
    logging.getLogger("x").info("hello")
    assert json.loads(stream.getvalue())["msg"] == "hello"


def test_log_format_comes_from_the_environment_and_is_checked():
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"SEOBATCH_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="SEOBATCH_LOG_FORMAT must be one of text, json"):
        Settings.from_env({"SEOBATCH_LOG_FORMAT": "xml"})


def test_cli_log_format_flag_overrides_the_environment(root_logging, monkeypatch, sqlite_url):
    from seobatch.cli import main

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SEOBATCH_LOG_FORMAT", "text")
    assert main(["--log-format", "json", "db", "init"]) == 0
    ours = [h for h in root_logging.handlers if getattr(h, "_seobatch", False)]
    assert type(ours[0].formatter).__name__ == "JsonFormatter"


def test_a_process_that_already_logs_to_a_stream_gets_no_second_handler(root_logging):
    # Given a root logger configured the way dramatiq's worker processes are (basicConfig)
    for handler in list(root_logging.handlers):
        root_logging.removeHandler(handler)
    pipe = io.StringIO()
    logging.basicConfig(stream=pipe, format="[dramatiq] %(message)s", force=True)
    # When seobatch sets up logging in text, then in json
    setup_logging(logging.INFO, (CANARY,), "text")
    logging.getLogger("seobatch.jobs").info("job_transition job_id=1 key=%s", CANARY)
    setup_logging(logging.INFO, (CANARY,), "json")
    logging.getLogger("seobatch.jobs").info("job_transition job_id=2")
    # Then each record is written once, redacted; json switches that handler's format
    assert len(root_logging.handlers) == 1
    first, second = pipe.getvalue().splitlines()
    assert first == f"[dramatiq] job_transition job_id=1 key={REDACTED}"
    assert json.loads(second)["job_id"] == 2
