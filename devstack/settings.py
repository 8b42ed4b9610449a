"""Stack settings, read once from the environment (STREAMPROC_*), with errors that name the fix."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("local", "testcontainers")
MAX_BROKERS = 9
_HEAP = re.compile(r"^[1-9][0-9]*[mMgG]$")


class StackConfigError(ValueError):
    """A setting of the local stack is invalid; the message says which and how to fix it."""


@dataclass(frozen=True, kw_only=True)
class AwsNames:
    """Names of the AWS resources; the same ones Terraform creates."""

    bucket: str = "healthcare-ingestion-drop-zone"
    queue: str = "s3-event-queue"
    dlq: str = "s3-event-dlq"
    max_receive_count: int = 5
    visibility_timeout: int = 30
    suffixes: tuple[str, ...] = (".csv", ".csv.gz", ".manifest.json")  # a manifest notifies too


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """Where the stack keeps its state and which loopback ports it listens on."""

    state_dir: Path = REPO_ROOT / ".stack"
    cache_dir: Path = Path.home() / ".cache" / "streamproc"
    backend: str = "local"
    kafka_version: str = "4.1.2"
    kafka_port: int = 39092
    kafka_controller_port: int = 39093
    kafka_heap: str = "512m"
    # Brokers of the local cluster: each a combined broker+controller KRaft node. Broker n (1-based) listens on
    # kafka_port + 2(n-1), its controller on kafka_controller_port + 2(n-1).
    kafka_brokers: int = 1
    postgres_port: int = 35432
    postgres_db: str = "streamproc"
    postgres_user: str = "streamproc"
    moto_port: int = 35000
    region: str = "us-east-1"
    aws: AwsNames = field(default_factory=AwsNames)
    ready_timeout: float = 120.0

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackSettings:
        """Build settings from `env` (default: the process environment)."""
        src = os.environ if env is None else env
        default = cls()
        backend = src.get("STREAMPROC_STACK_BACKEND", default.backend).strip().lower()
        if backend not in BACKENDS:
            msg = f"STREAMPROC_STACK_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}"
            raise StackConfigError(msg)
        ports = {
            var: parse_port(src.get(var), var, default_port)
            for var, default_port in (
                ("STREAMPROC_KAFKA_PORT", default.kafka_port),
                ("STREAMPROC_KAFKA_CONTROLLER_PORT", default.kafka_controller_port),
                ("STREAMPROC_POSTGRES_PORT", default.postgres_port),
                ("STREAMPROC_MOTO_PORT", default.moto_port),
            )
        }
        brokers = parse_int(src.get("STREAMPROC_KAFKA_BROKERS"), "STREAMPROC_KAFKA_BROKERS", 1, 1, MAX_BROKERS)
        _reject_duplicate_ports(_every_port(ports, brokers))
        heap = src.get("STREAMPROC_KAFKA_HEAP", default.kafka_heap).strip()
        if not _HEAP.match(heap):
            msg = f"STREAMPROC_KAFKA_HEAP={heap!r} is not a JVM size such as 512m or 1g"
            raise StackConfigError(msg)
        receives = parse_int(src.get("STREAMPROC_MAX_RECEIVE_COUNT"), "STREAMPROC_MAX_RECEIVE_COUNT", 5, 1, 1000)
        return cls(
            state_dir=_path(src.get("STREAMPROC_STACK_DIR"), default.state_dir),
            cache_dir=_path(src.get("STREAMPROC_CACHE_DIR"), default.cache_dir),
            backend=backend,
            kafka_version=src.get("STREAMPROC_KAFKA_VERSION", default.kafka_version).strip(),
            kafka_heap=heap,
            kafka_brokers=brokers,
            aws=AwsNames(max_receive_count=receives),
            ready_timeout=float(
                parse_int(src.get("STREAMPROC_STACK_TIMEOUT"), "STREAMPROC_STACK_TIMEOUT", 120, 5, 3600)
            ),
            kafka_port=ports["STREAMPROC_KAFKA_PORT"],
            kafka_controller_port=ports["STREAMPROC_KAFKA_CONTROLLER_PORT"],
            postgres_port=ports["STREAMPROC_POSTGRES_PORT"],
            moto_port=ports["STREAMPROC_MOTO_PORT"],
        )


def parse_port(raw: str | None, var: str, default: int) -> int:
    """A TCP port from an env value; None or blank means the default."""
    return parse_int(raw, var, default, 1, 65535)


def parse_int(raw: str | None, var: str, default: int, low: int, high: int) -> int:
    """An integer in [low, high] from an env value, or a StackConfigError naming the variable."""
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        msg = f"{var}={raw!r} must be a whole number from {low} to {high}"
        raise StackConfigError(msg)
    return int(text)


def broker_ports(kafka_port: int, controller_port: int, node: int) -> tuple[int, int]:
    """The client and controller ports of broker `node` (1-based)."""
    step = 2 * (node - 1)
    return kafka_port + step, controller_port + step


def _every_port(ports: Mapping[str, int], brokers: int) -> dict[str, int]:
    """Every port the stack listens on, by the setting (and broker) it comes from."""
    every = dict(ports)
    for node in range(2, brokers + 1):
        client, controller = broker_ports(
            ports["STREAMPROC_KAFKA_PORT"], ports["STREAMPROC_KAFKA_CONTROLLER_PORT"], node
        )
        if controller > 65535 or client > 65535:
            msg = f"STREAMPROC_KAFKA_BROKERS={brokers}: broker {node}'s ports would pass 65535; lower the Kafka ports"
            raise StackConfigError(msg)
        every[f"STREAMPROC_KAFKA_PORT (+{client - ports['STREAMPROC_KAFKA_PORT']}, broker {node})"] = client
        every[
            f"STREAMPROC_KAFKA_CONTROLLER_PORT (+{controller - ports['STREAMPROC_KAFKA_CONTROLLER_PORT']}, "
            f"broker {node})"
        ] = controller
    return every


def _reject_duplicate_ports(ports: Mapping[str, int]) -> None:
    seen: dict[int, str] = {}
    for var, port in ports.items():
        if port in seen:
            msg = f"{seen[port]} and {var} are both port {port}; give each service its own port"
            raise StackConfigError(msg)
        seen[port] = var


def _path(raw: str | None, default: Path) -> Path:
    return Path(raw).expanduser().resolve() if raw and raw.strip() else default
