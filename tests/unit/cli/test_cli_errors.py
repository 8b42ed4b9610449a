"""Exit codes scripts can trust: refused 1, usage 2, unavailable 3, a bug keeps its traceback."""

from __future__ import annotations

from streamproc.adapters.postgres import DatabaseUnavailable
from streamproc.cli.errors import INTERRUPTED, REFUSED, UNAVAILABLE, USAGE, BadUsage, NotFound, Refused, exit_code_for
from streamproc.kafka import resets
from streamproc.kafka.errors import KafkaUnavailable
from streamproc.shared.settings import SettingsError


def test_refusals_and_unknown_things_exit_1() -> None:
    assert exit_code_for(Refused("no")) == REFUSED
    assert exit_code_for(NotFound("none")) == REFUSED
    assert exit_code_for(resets.UnknownGroup("g")) == REFUSED
    assert exit_code_for(resets.GroupHasActiveMembers("g", ())) == REFUSED


def test_usage_and_settings_errors_exit_2() -> None:
    assert exit_code_for(BadUsage("both")) == USAGE
    assert exit_code_for(SettingsError("KAFKA_SECURITY_PROTOCOL")) == USAGE


def test_services_that_do_not_answer_exit_3() -> None:
    assert exit_code_for(KafkaUnavailable("down")) == UNAVAILABLE
    assert exit_code_for(DatabaseUnavailable("down")) == UNAVAILABLE


def test_ctrl_c_exits_130_and_a_bug_is_not_mistaken_for_an_expected_failure() -> None:
    assert exit_code_for(KeyboardInterrupt()) == INTERRUPTED
    assert exit_code_for(ZeroDivisionError()) is None
