"""Settings both services read: env parsing, the Kafka connection, topics and AWS access (frozen, secrets hidden)."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what it accepts."""


def environ() -> Mapping[str, str]:
    """The process environment, read in this one place."""
    return os.environ


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


def env_bool(env: Mapping[str, str], var: str, *, default: bool) -> bool:
    raw = env.get(var, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    msg = f"{var}={raw!r} must be true or false (also 1/0, yes/no, on/off)"
    raise SettingsError(msg)


def env_choice(env: Mapping[str, str], var: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(env, var, default).upper()
    if value not in choices:
        msg = f"{var}={value!r} must be one of {', '.join(choices)}"
        raise SettingsError(msg)
    return value


_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL with its password replaced by ***, for logs and reprs: in `user:password@` and in `?password=`."""
    url = _PASSWORD_PARAMETER.sub(r"\1***", url)
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.partition("@") if "@" in rest.split("/", 1)[0] else ("", "", rest)
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


# How stale a client's view of partition leaders may get. aiokafka's consumer does not refresh its metadata when
# a ListOffsets request (resetting a freshly assigned partition's position) meets NotLeaderForPartition: it asks
# the old leader again every 100 ms until the periodic refresh (default 5 minutes; robinhood/aiokafka#9, the
# Java client's KAFKA-9535). The chaos run saw an assigned partition not fetched for 4.5 minutes after a leader
# moved. 10 s bounds that stall; the cost is one metadata request per client every 10 s.
METADATA_MAX_AGE_MS = 10_000


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
        protocol = env_choice(
            env, "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        )
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
            "metadata_max_age_ms": METADATA_MAX_AGE_MS,
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
    """Names, partitions, replication and retention of every topic; declared here once.

    `objects` and `deadletter` hold the full names; `qualify` applies the namespace, and is the one
    place that does (the dataset topics go through it too, see `Registry.qualified`).
    """

    objects: str = "ingest.objects"
    deadletter: str = "ingest.deadletter"
    namespace: str = ""  # prefixed to every topic name: environments sharing one cluster
    partitions: int = 6
    replication: int = 1
    retention_ms: int = 7 * 24 * 3600 * 1000

    def qualify(self, name: str) -> str:
        return self.namespace + name

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicSettings:
        bare = cls(namespace=env.get("STREAMPROC_TOPIC_NAMESPACE", "").strip())
        return cls(
            objects=bare.qualify(env_str(env, "STREAMPROC_OBJECTS_TOPIC", cls.objects)),
            deadletter=bare.qualify(env_str(env, "STREAMPROC_DEADLETTER_TOPIC", cls.deadletter)),
            namespace=bare.namespace,
            partitions=env_int(env, "STREAMPROC_TOPIC_PARTITIONS", cls.partitions, 1, 10_000),
            replication=env_int(env, "STREAMPROC_TOPIC_REPLICATION", cls.replication, 1, 32),
            retention_ms=env_int(env, "STREAMPROC_TOPIC_RETENTION_MS", cls.retention_ms, -1, 2**62),
        )


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    """S3/SQS access; an endpoint URL points at an emulator, None means real AWS with its credential chain."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsSettings:
        """The standard AWS_* names."""
        return cls(
            endpoint_url=env_str(env, "AWS_ENDPOINT_URL", "") or None,
            region=env_str(env, "AWS_DEFAULT_REGION", env_str(env, "AWS_REGION", cls.region)),
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
