"""`python -m streamproc worker` (and every other Faust command of the app)."""

from __future__ import annotations

import sys


def with_default_loglevel(argv: list[str], level: str) -> list[str]:
    """The worker logs at STREAMPROC_LOG_LEVEL (INFO) unless told otherwise; Faust's own default is WARN."""
    if argv[1:2] == ["worker"] and not any(a in {"-l", "--loglevel"} or a.startswith("--loglevel=") for a in argv):
        return [*argv[:2], f"--loglevel={level}", *argv[2:]]
    return argv


def main() -> None:
    from streamproc.app import app, settings

    sys.argv = with_default_loglevel(sys.argv, settings.log_level)
    app.main()


if __name__ == "__main__":
    main()
