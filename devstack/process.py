"""Start, identify and stop the stack's own processes by PID, and wait for readiness."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Popen objects of children started by this process: kept so that stop() can reap them and so that
# they are not garbage-collected (with a ResourceWarning) while the child still runs.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """A service could not be started or stopped; the message names the problem and the fix."""


@dataclass(frozen=True)
class Owned:
    """A process this stack started: its PID and the kernel start time that proves it is ours."""

    pid: int
    start_ticks: int

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) follows the parenthesised command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    state, ticks = fields[0], fields[19]
    return None if state == "Z" else int(ticks)


def read_owned(pid_file: Path) -> Owned | None:
    """The process recorded in `pid_file` if it is still the one we started, else None."""
    try:
        data = json.loads(pid_file.read_text())
        owned = Owned(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owned if owned.alive() else None


def spawn(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Owned:
    """Start `argv` in its own session, output appended to `log_file`, and record its PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    ticks = _start_ticks(proc.pid)
    if ticks is None:
        msg = f"{argv[0]} exited at once; see {log_file}"
        raise StackError(msg)
    owned = Owned(pid=proc.pid, start_ticks=ticks)
    pid_file.write_text(json.dumps({"pid": owned.pid, "start_ticks": owned.start_ticks, "argv": list(argv)}))
    return owned


def stop(pid_file: Path, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Stop the process recorded in `pid_file` (if it is ours); True if one was stopped."""
    owned = read_owned(pid_file)
    if owned is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(owned.pid, sig)
    if not wait_for(lambda: not owned.alive(), timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(owned.pid, signal.SIGKILL)
        wait_for(lambda: not owned.alive(), 10.0)
    _reap(owned.pid)
    pid_file.unlink(missing_ok=True)
    return True


def reap(pid: int) -> None:
    """Wait for a child of this process that was killed (so it does not stay a zombie); no-op for others."""
    _reap(pid)


def _reap(pid: int) -> None:
    # A child of this very process stays a zombie until waited for.
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll `check` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_port_free(port: int, service: str, var: str) -> None:
    """Fail fast when another process already listens on a port we need."""
    if port_open(port):
        msg = (
            f"{service}: port {port} on 127.0.0.1 is already taken by a process this stack did not start; "
            f"stop that process or set {var} to a free port"
        )
        raise StackError(msg)


def require_binary(name: str, fix: str, override: str | None = None) -> str:
    """Absolute path of an executable, or a StackError that says how to install it."""
    found = override or shutil.which(name)
    if not found or not os.access(found, os.X_OK):
        msg = f"{name} not found on PATH: {fix}"
        raise StackError(msg)
    return found


def free_port_block(count: int, low: int = 20_000, high: int = 30_000) -> int:
    """The first of `count` consecutive loopback ports that nothing listens on right now (a private cluster's)."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(low, high - count)
        if all(_bindable(port) for port in range(base, base + count)):
            return base
    msg = f"no {count} consecutive free ports between {low} and {high}"
    raise StackError(msg)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (for private test services)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
