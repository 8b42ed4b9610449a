"""`python -m streamproc`: the worker logs at INFO by default."""

from __future__ import annotations

from streamproc.__main__ import with_default_loglevel


def test_the_worker_logs_at_the_configured_level_unless_the_command_line_says_otherwise() -> None:
    assert with_default_loglevel(["x", "worker"], "INFO") == ["x", "worker", "--loglevel=INFO"]
    assert with_default_loglevel(["x", "worker", "-l", "debug"], "INFO") == ["x", "worker", "-l", "debug"]
    assert with_default_loglevel(["x", "worker", "--loglevel=warn"], "INFO") == ["x", "worker", "--loglevel=warn"]
    assert with_default_loglevel(["x", "gen", "--rows", "3"], "INFO") == ["x", "gen", "--rows", "3"]
