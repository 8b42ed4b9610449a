"""Frozen settings from the environment, loaded once; the only module of streamproc that reads env."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what it accepts."""


def env_int(env: Mapping[str, str], var: str, default: int, low: int = 0, high: int = 2**31 - 1) -> int:
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        msg = f"{var}={raw!r} must be a whole number from {low} to {high}"
        raise SettingsError(msg)
    return value


def env_float(env: Mapping[str, str], var: str, default: float, low: float = 0.0) -> float:
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not value >= low:
        msg = f"{var}={raw!r} must be a number >= {low}"
        raise SettingsError(msg)
    return value


def env_str(env: Mapping[str, str], var: str, default: str) -> str:
    return env.get(var, "").strip() or default


@dataclass(frozen=True, kw_only=True)
class KafkaConnection:
    """How to reach the Kafka cluster: bootstrap servers plus optional SASL/TLS (for managed clusters)."""

    bootstrap_servers: str = "127.0.0.1:39092"
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaConnection:
        protocol = env_str(env, "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        if protocol not in {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}:
            msg = f"KAFKA_SECURITY_PROTOCOL={protocol!r} must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            raise SettingsError(msg)
        conn = cls(
            bootstrap_servers=env_str(env, "KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            security_protocol=protocol,
            sasl_mechanism=env.get("KAFKA_SASL_MECHANISM") or None,
            sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
            sasl_password=env.get("KAFKA_SASL_PASSWORD") or None,
            ssl_cafile=env.get("KAFKA_SSL_CAFILE") or None,
        )
        if protocol.startswith("SASL") and not (conn.sasl_mechanism and conn.sasl_username and conn.sasl_password):
            msg = (
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_MECHANISM, "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
            raise SettingsError(msg)
        return conn

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if "SSL" in self.security_protocol:
            kwargs["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL"):
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        return kwargs


@dataclass(frozen=True, kw_only=True)
class TopicSettings:
    """Names, partitions, replication and retention of every topic; declared here once."""

    objects: str = "ingest.objects"
    deadletter: str = "ingest.deadletter"
    # Prefixed to every topic name (objects, dead letters, dataset topics): environments sharing a cluster.
    namespace: str = ""
    partitions: int = 6
    replication: int = 1
    retention_ms: int = 7 * 24 * 3600 * 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicSettings:
        namespace = env.get("STREAMPROC_TOPIC_NAMESPACE", "").strip()
        return cls(
            objects=namespace + env_str(env, "STREAMPROC_OBJECTS_TOPIC", cls.objects),
            deadletter=namespace + env_str(env, "STREAMPROC_DEADLETTER_TOPIC", cls.deadletter),
            namespace=namespace,
            partitions=env_int(env, "STREAMPROC_TOPIC_PARTITIONS", cls.partitions, 1, 10_000),
            replication=env_int(env, "STREAMPROC_TOPIC_REPLICATION", cls.replication, 1, 32),
            retention_ms=env_int(env, "STREAMPROC_TOPIC_RETENTION_MS", cls.retention_ms, -1, 2**62),
        )


def environ() -> Mapping[str, str]:
    """The process environment, read in this one place."""
    return os.environ


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    """S3 access; an endpoint URL points at an emulator, None means real AWS with its credential chain."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], override_prefix: str = "") -> AwsSettings:
        """Standard AWS_* names; `<override_prefix>AWS_ENDPOINT_URL` / `..AWS_REGION` win when set."""
        region = env_str(env, "AWS_DEFAULT_REGION", env_str(env, "AWS_REGION", cls.region))
        endpoint = env_str(env, "AWS_ENDPOINT_URL", "")
        if override_prefix:
            region = env_str(env, f"{override_prefix}AWS_REGION", region)
            endpoint = env_str(env, f"{override_prefix}AWS_ENDPOINT_URL", endpoint)
        return cls(
            endpoint_url=endpoint or None,
            region=region,
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        )

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.access_key_id and self.secret_access_key:
            kwargs |= {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}
        return kwargs


def _redact_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """Everything the Faust worker needs; `repr` hides passwords."""

    app_id: str = "streamproc"
    kafka: KafkaConnection = field(default_factory=KafkaConnection)
    topics: TopicSettings = field(default_factory=TopicSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    database_url: str = field(default="postgresql://streamproc@127.0.0.1:35432/streamproc", repr=False)
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = ""  # Faust's working directory; empty: <tmp>/streamproc/<app_id>
    sink_batch_size: int = 5000
    sink_batch_seconds: float = 0.5
    produce_window: int = 20_000
    s3_chunk_size: int = 1 << 20
    retry_backoff_cap: float = 30.0
    extra_datasets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"WorkerSettings(app_id={self.app_id!r}, kafka={self.kafka!r}, topics={self.topics!r}, aws={self.aws!r}, "
            f"database_url={_redact_url(self.database_url)!r}, web={self.web_host}:{self.web_port}, "
            f"sink_batch={self.sink_batch_size}/{self.sink_batch_seconds}s)"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        src = environ() if env is None else env
        extra = tuple(m.strip() for m in src.get("STREAMPROC_EXTRA_DATASETS", "").split(",") if m.strip())
        return cls(
            app_id=env_str(src, "STREAMPROC_APP_ID", cls.app_id),
            kafka=KafkaConnection.from_env(src),
            topics=TopicSettings.from_env(src),
            aws=AwsSettings.from_env(src),
            database_url=env_str(src, "DATABASE_URL", cls.database_url),
            web_host=env_str(src, "STREAMPROC_WEB_HOST", cls.web_host),
            web_port=env_int(src, "STREAMPROC_WEB_PORT", cls.web_port, 1, 65535),
            data_dir=env_str(src, "STREAMPROC_DATA_DIR", cls.data_dir),
            sink_batch_size=env_int(src, "STREAMPROC_SINK_BATCH_SIZE", cls.sink_batch_size, 1, 1_000_000),
            sink_batch_seconds=env_float(src, "STREAMPROC_SINK_BATCH_SECONDS", cls.sink_batch_seconds, 0.001),
            produce_window=env_int(src, "STREAMPROC_PRODUCE_WINDOW", cls.produce_window, 1, 10_000_000),
            s3_chunk_size=env_int(src, "STREAMPROC_S3_CHUNK_SIZE", cls.s3_chunk_size, 4096, 1 << 30),
            retry_backoff_cap=env_float(src, "STREAMPROC_RETRY_BACKOFF_CAP", cls.retry_backoff_cap, 0.1),
            extra_datasets=extra,
        )
