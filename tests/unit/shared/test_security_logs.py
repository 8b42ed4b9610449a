"""JSON-lines logging (STREAMPROC_LOG_FORMAT / BRIDGE_LOG_FORMAT): one ASCII JSON object per record, an exception
shown by class and frames only, the format chosen by settings, and Faust's logging configured with it."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from bridge.settings import load as load_bridge
from streamproc.__main__ import without_banner
from streamproc.shared.errors import TerminalError
from streamproc.shared.logs import JsonLines, SafeExceptions, install_log_format, json_logging_config
from streamproc.shared.settings import SettingsError
from streamproc.worker.settings import WorkerSettings

VALUE = "PHI-M0000001"  # what a driver's message may quote


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("streamproc.ingest.sink", logging.WARNING, __file__, 1, message, args, info)


def driver_error() -> None:
    msg = f"value {VALUE} violates a constraint"
    raise ValueError(msg)


def refused_batch() -> None:
    try:
        driver_error()
    except ValueError as inner:
        msg = "the batch was refused"
        raise TerminalError(msg) from inner


def raised() -> BaseException:
    try:
        refused_batch()
    except TerminalError as exc:
        return exc
    pytest.fail("refused_batch did not raise")


def test_a_record_is_one_line_of_ascii_json_with_time_level_logger_and_message() -> None:
    line = JsonLines().format(record("s3://%s/%s: split done, %d rows", "b", "k\r\n\u2028\x1b[31m é", 3))
    assert "\n" not in line and "\r" not in line and line.isascii()
    parsed = json.loads(line)
    assert parsed == {
        "time": parsed["time"],
        "level": "WARNING",
        "logger": "streamproc.ingest.sink",
        "message": "s3://b/k\r\n\u2028\x1b[31m é: split done, 3 rows",
    }
    assert parsed["time"].endswith("+00:00")


def test_an_exception_shows_its_class_chain_and_frames_never_its_text() -> None:
    parsed = json.loads(JsonLines().format(record("sink stopped", exc=raised())))
    assert parsed["exception"] == "TerminalError: the batch was refused <- ValueError"
    assert "driver_error" in parsed["at"] or "refused_batch" in parsed["at"]
    assert VALUE not in json.dumps(parsed)


def test_json_format_puts_the_formatter_and_safe_exceptions_on_every_root_handler() -> None:
    root = logging.Logger("root-under-test")
    first, second = logging.StreamHandler(io.StringIO()), logging.StreamHandler(io.StringIO())
    root.handlers = [first, second]
    install_log_format("text", root)
    assert not isinstance(first.formatter, JsonLines)
    install_log_format("json", root)
    install_log_format("json", root)  # idempotent
    for handler in (first, second):
        assert isinstance(handler.formatter, JsonLines)
        assert [type(f) for f in handler.filters] == [SafeExceptions]


def test_fausts_logging_config_makes_its_formatters_json_lines() -> None:
    config = json_logging_config()
    assert config["merge"] is True  # Faust keeps its handlers and levels, only the formatters change
    configurator = logging.config.DictConfigurator(config)
    for name in ("default", "colored"):  # mode's file and console formatters
        assert isinstance(configurator.configure_formatter(dict(config["formatters"][name])), JsonLines)


def test_the_log_format_is_text_unless_set_to_json_and_anything_else_is_refused() -> None:
    assert (WorkerSettings.from_env({}).log_format, load_bridge({}).log_format) == ("text", "text")
    assert WorkerSettings.from_env({"STREAMPROC_LOG_FORMAT": "json"}).log_format == "json"
    assert load_bridge({"BRIDGE_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="STREAMPROC_LOG_FORMAT"):
        WorkerSettings.from_env({"STREAMPROC_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="BRIDGE_LOG_FORMAT"):
        load_bridge({"BRIDGE_LOG_FORMAT": "yaml"})


def test_with_json_logs_the_worker_prints_no_banner() -> None:
    assert without_banner(["x", "worker", "--loglevel=INFO"], "json") == ["x", "--quiet", "worker", "--loglevel=INFO"]
    assert without_banner(["x", "worker"], "text") == ["x", "worker"]
    assert without_banner(["x", "status"], "json") == ["x", "status"]
