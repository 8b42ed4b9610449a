"""`python -m streamproc worker` (and every other Faust command of the app)."""

from __future__ import annotations

import sys


def with_default_loglevel(argv: list[str], level: str) -> list[str]:
    """The worker logs at STREAMPROC_LOG_LEVEL (INFO) unless told otherwise; Faust's own default is WARN."""
    if argv[1:2] == ["worker"] and not any(a in {"-l", "--loglevel"} or a.startswith("--loglevel=") for a in argv):
        return [*argv[:2], f"--loglevel={level}", *argv[2:]]
    return argv


def without_banner(argv: list[str], log_format: str) -> list[str]:
    """With JSON logs the worker prints no banner (Faust's --quiet): every line of its output is a JSON object."""
    if log_format == "json" and argv[1:2] == ["worker"]:
        return [argv[0], "--quiet", *argv[1:]]
    return argv


def main() -> None:
    from streamproc.app import app, settings

    sys.argv = without_banner(with_default_loglevel(sys.argv, settings.log_level), settings.log_format)
    app.main()


if __name__ == "__main__":
    main()
