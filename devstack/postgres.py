"""PostgreSQL from the machine's binaries, in a throwaway data dir, as an unprivileged user."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from devstack.process import Owned, StackError, read_owned, require_port_free, spawn, stop
from devstack.settings import StackSettings

NAME = "postgres"
_UNPRIVILEGED = ("postgres", "nobody")


class Postgres:
    """One server on loopback (no Unix socket), trust auth, database created on start."""

    name = NAME

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.user = _run_as_user()
        self.home = _home(settings, self.user)
        self.data = self.home / "data"
        self.pid_file = settings.state_dir / "postgres.pid"
        self.log_file = settings.log_dir / "postgres.log"

    @property
    def endpoint(self) -> str:
        s = self.settings
        return f"postgresql://{s.postgres_user}@127.0.0.1:{s.postgres_port}/{s.postgres_db}"

    def owned(self) -> Owned | None:
        return read_owned(self.pid_file)

    @property
    def admin_url(self) -> str:
        s = self.settings
        return f"postgresql://{s.postgres_user}@127.0.0.1:{s.postgres_port}/postgres"

    def healthy(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def start(self) -> Owned:
        s = self.settings
        bindir = find_bindir()
        require_port_free(s.postgres_port, NAME, "STREAMPROC_POSTGRES_PORT")
        if not (self.data / "PG_VERSION").exists():
            self._initdb(bindir)
        cmd = [
            str(bindir / "postgres"), "-D", str(self.data), "-p", str(s.postgres_port),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
            "-c", "max_connections=200", "-c", "log_min_messages=warning",
            # Error CONTEXT and DETAIL lines can quote row values (a COPY line, a key): never log them (PHI).
            "-c", "log_error_verbosity=terse", "-c", "log_min_error_statement=panic",
        ]  # fmt: skip
        return spawn(cmd, pid_file=self.pid_file, log_file=self.log_file, user=self.user, cwd=self.home)

    def after_ready(self) -> None:
        """Create the application database if it does not exist yet."""
        s = self.settings
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (s.postgres_db,)).fetchone()
            if found is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(s.postgres_db)))

    def stop(self) -> bool:
        # SIGINT is PostgreSQL's "fast" shutdown: it ends every backend, then exits.
        return stop(self.pid_file, sig=signal.SIGINT, timeout=30.0)

    def _initdb(self, bindir: Path) -> None:
        if self.data.exists():
            shutil.rmtree(self.data)
        cmd = [
            str(bindir / "initdb"), "-D", str(self.data), "-U", self.settings.postgres_user,
            "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=120, user=self.user, group=self.user
        )
        if done.returncode != 0:
            msg = f"initdb failed (exit {done.returncode}): {done.stderr.strip()[-800:]}"
            raise StackError(msg)


def find_bindir() -> Path:
    """The directory holding `postgres` and `initdb` (STREAMPROC_PG_BINDIR, PATH, or Debian's layout)."""
    candidates: list[Path] = []
    if override := os.environ.get("STREAMPROC_PG_BINDIR"):
        candidates.append(Path(override))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for bindir in candidates:
        if (bindir / "postgres").is_file() and (bindir / "initdb").is_file():
            return bindir
    msg = (
        "PostgreSQL server binaries (postgres, initdb) not found: "
        "apt-get install postgresql-15, or set STREAMPROC_PG_BINDIR"
    )
    raise StackError(msg)


def _run_as_user() -> str | None:
    """PostgreSQL refuses to run as root: pick an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in _UNPRIVILEGED:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    msg = "running as root and no unprivileged user (postgres or nobody) exists to run PostgreSQL as"
    raise StackError(msg)


def _home(settings: StackSettings, user: str | None) -> Path:
    """The server's directory: under the state dir, or a private temp dir if `user` cannot reach it."""
    home = settings.state_dir / "postgres"
    home.mkdir(parents=True, exist_ok=True)
    if user is None:
        return home
    shutil.chown(home, user, user)
    if _can_write(home, user):
        return home
    digest = hashlib.sha256(str(settings.state_dir).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"streamproc-pg-{digest}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    shutil.chown(fallback, user, user)
    return fallback


def _can_write(path: Path, user: str) -> bool:
    test = shutil.which("test") or "/usr/bin/test"
    probe = subprocess.run([test, "-w", str(path)], check=False, user=user, group=user)
    return probe.returncode == 0
