"""`python -m streamproc worker` (and every other Faust command of the app)."""

from __future__ import annotations


def main() -> None:
    from streamproc.app import app

    app.main()


if __name__ == "__main__":
    main()
