"""JSON log lines (`OPGRAPH_LOG_FORMAT=json`): fields, run/step context, gunicorn config."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from opgraph.logs import JsonFormatter, configure_logging, log_context, log_format
from opgraph_app.logging_setup import gunicorn_logconfig


@pytest.fixture
def logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("worker"))
    log = logging.getLogger("opgraph.test_json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)


def test_a_line_is_one_json_object_with_context_and_extras(logger):
    log, stream = logger
    with log_context(run_id="r1"):
        with log_context(step_key='work["a"]'):
            log.info("done %s in %.1fs", "step", 1.25, extra={"attempt": 2})
        inner = json.loads(stream.getvalue().splitlines()[-1])
        log.warning("between steps")
    outer = json.loads(stream.getvalue().splitlines()[-1])
    log.error("outside")
    after = json.loads(stream.getvalue().splitlines()[-1])

    assert inner["message"] == "done step in 1.2s"
    assert (inner["level"], inner["service"], inner["logger"]) == (
        "INFO",
        "worker",
        "opgraph.test_json",
    )
    assert (inner["run_id"], inner["step_key"], inner["attempt"]) == ("r1", 'work["a"]', 2)
    assert inner["ts"].endswith("Z") and isinstance(inner["pid"], int)
    assert outer["run_id"] == "r1" and "step_key" not in outer
    assert "run_id" not in after


def test_exceptions_keep_their_traceback(logger):
    log, stream = logger
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("op failed")
    [line] = stream.getvalue().splitlines()  # one line, newlines escaped
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert "ValueError: bad\nvalue" in entry["exception"]


def test_text_format_changes_nothing_and_a_wrong_format_is_an_error(monkeypatch):
    monkeypatch.delenv("OPGRAPH_LOG_FORMAT", raising=False)
    handlers = list(logging.getLogger().handlers)
    assert configure_logging("webserver") is False
    assert logging.getLogger().handlers == handlers
    assert gunicorn_logconfig() is None
    monkeypatch.setenv("OPGRAPH_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="OPGRAPH_LOG_FORMAT must be one of text, json"):
        log_format()


def test_gunicorn_config_sends_its_own_loggers_through_json(monkeypatch):
    monkeypatch.setenv("OPGRAPH_LOG_FORMAT", "json")
    monkeypatch.setenv("OPGRAPH_LOG_LEVEL", "warning")
    config = gunicorn_logconfig()
    assert config is not None
    stream = io.StringIO()
    config["handlers"]["json"]["stream"] = stream
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logging.config.dictConfig(config)
        logging.getLogger("gunicorn.error").warning("Booting worker with pid: %s", 7)
        logging.getLogger("gunicorn.error").info("not shown below WARNING")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name in ("gunicorn.error", "gunicorn.access"):
            logging.getLogger(name).handlers.clear()
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert (entry["service"], entry["logger"], entry["message"]) == (
        "webserver",
        "gunicorn.error",
        "Booting worker with pid: 7",
    )
