"""Bridge settings from the environment (BRIDGE_*, KAFKA_*, AWS_*, STREAMPROC_*), frozen, secrets hidden."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from streamproc.shared.logs import LogFormat, log_format
from streamproc.shared.settings import (
    AwsSettings,
    KafkaConnection,
    SettingsError,
    TopicSettings,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
    environ,
)

__all__ = ["BridgeSettings", "QueueRef", "SettingsError", "load"]

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, kw_only=True)
class QueueRef:
    """An SQS queue given by URL, or by name (resolved to a URL with GetQueueUrl at start)."""

    url: str | None = None
    name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str, default_name: str) -> QueueRef:
        url = env_str(env, f"{prefix}_URL", "")
        name = env_str(env, f"{prefix}_NAME", "")
        if url and name:
            msg = f"set {prefix}_URL or {prefix}_NAME, not both"
            raise SettingsError(msg)
        if url:
            if not url.startswith(("http://", "https://")):
                msg = f"{prefix}_URL={url!r} must be a queue URL: https://sqs.<region>.amazonaws.com/<account>/<name>"
                raise SettingsError(msg)
            return cls(url=url)
        name = name or default_name
        if not _QUEUE_NAME.match(name):
            msg = f"{prefix}_NAME={name!r} must be 1-80 letters, digits, '-' or '_' (optionally ending in .fifo)"
            raise SettingsError(msg)
        return cls(name=name)

    @property
    def label(self) -> str:
        """The queue's name, for logs and dead letters."""
        return self.name or (self.url or "").rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, kw_only=True)
class BridgeSettings:
    """Everything `python -m bridge` needs; `repr` shows no secret."""

    aws: AwsSettings = field(default_factory=AwsSettings)
    kafka: KafkaConnection = field(default_factory=KafkaConnection)
    topics: TopicSettings = field(default_factory=TopicSettings)
    queue: QueueRef = field(default_factory=lambda: QueueRef(name="s3-event-queue"))
    dlq: QueueRef = field(default_factory=lambda: QueueRef(name="s3-event-dlq"))
    wait_seconds: int = 20
    max_messages: int = 10
    pollers: int = 4
    produce_timeout: float = 30.0
    # Seconds a received message stays hidden (ReceiveMessage's VisibilityTimeout); while its produce or delete
    # is pending the relay extends it by as much every third of it, so a slow Kafka never lets it be redelivered.
    # None: the queue's own VisibilityTimeout, read once at start (Terraform's visibility_timeout_seconds).
    visibility_timeout: int | None = None
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    stats_interval: float = 60.0
    dlq_group: str = "bridge-dlq-mirror"
    dlq_max_records: int = 100
    dlq_max_attempts: int = 5  # sends of a message SQS refuses for its content before a stand-in replaces it
    create_topics: bool = True
    log_level: str = "INFO"
    faults: str = ""  # test-only fault points, e.g. "relay-delete:1" (see streamproc/shared/faults.py); empty: none
    log_format: LogFormat = "text"  # or "json": one JSON object per line
    http_host: str = "127.0.0.1"  # /healthz and /metrics: loopback unless configured
    http_port: int = 6067

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BridgeSettings:
        """Build and validate; a SettingsError names the variable and what it accepts."""
        backoff_initial = env_float(env, "BRIDGE_BACKOFF_INITIAL", cls.backoff_initial, 0.001)
        backoff_cap = env_float(env, "BRIDGE_BACKOFF_CAP", cls.backoff_cap, 0.001)
        if backoff_cap < backoff_initial:
            msg = f"BRIDGE_BACKOFF_CAP={backoff_cap} must be >= BRIDGE_BACKOFF_INITIAL={backoff_initial}"
            raise SettingsError(msg)
        return cls(
            aws=AwsSettings.from_env(env),
            kafka=KafkaConnection.from_env(env),
            topics=TopicSettings.from_env(env),
            queue=QueueRef.from_env(env, "STREAMPROC_QUEUE", "s3-event-queue"),
            dlq=QueueRef.from_env(env, "STREAMPROC_DLQ", "s3-event-dlq"),
            wait_seconds=env_int(env, "BRIDGE_WAIT_SECONDS", cls.wait_seconds, 0, 20),
            max_messages=env_int(env, "BRIDGE_MAX_MESSAGES", cls.max_messages, 1, 10),
            pollers=env_int(env, "BRIDGE_POLLERS", cls.pollers, 1, 64),
            produce_timeout=env_float(env, "BRIDGE_PRODUCE_TIMEOUT", cls.produce_timeout, 1.0),
            visibility_timeout=_optional_int(env, "BRIDGE_VISIBILITY_TIMEOUT", 2, 43_200),
            backoff_initial=backoff_initial,
            backoff_cap=backoff_cap,
            stats_interval=env_float(env, "BRIDGE_STATS_INTERVAL", cls.stats_interval, 0.0),
            dlq_group=env_str(env, "BRIDGE_DLQ_GROUP", cls.dlq_group),
            dlq_max_records=env_int(env, "BRIDGE_DLQ_MAX_RECORDS", cls.dlq_max_records, 1, 10_000),
            dlq_max_attempts=env_int(env, "BRIDGE_DLQ_MAX_ATTEMPTS", cls.dlq_max_attempts, 1, 1000),
            create_topics=env_bool(env, "BRIDGE_CREATE_TOPICS", default=cls.create_topics),
            log_level=env_choice(env, "BRIDGE_LOG_LEVEL", cls.log_level, _LOG_LEVELS),
            faults=env_str(env, "BRIDGE_FAULTS", ""),
            log_format=log_format(env_choice(env, "BRIDGE_LOG_FORMAT", "TEXT", ("TEXT", "JSON"))),
            http_host=env_str(env, "BRIDGE_HTTP_HOST", cls.http_host),
            http_port=env_int(env, "BRIDGE_HTTP_PORT", cls.http_port, 1, 65535),
        )


def _optional_int(env: Mapping[str, str], var: str, low: int, high: int) -> int | None:
    """An int within [low, high] if the variable is set (a SettingsError otherwise), None if unset or blank."""
    return env_int(env, var, low, low, high) if env.get(var, "").strip() else None


def load(env: Mapping[str, str] | None = None) -> BridgeSettings:
    """Settings from `env`, default the process environment (read here and nowhere else)."""
    return BridgeSettings.from_env(environ() if env is None else env)
