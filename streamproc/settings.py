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
    partitions: int = 6
    replication: int = 1
    retention_ms: int = 7 * 24 * 3600 * 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TopicSettings:
        return cls(
            objects=env_str(env, "STREAMPROC_OBJECTS_TOPIC", cls.objects),
            deadletter=env_str(env, "STREAMPROC_DEADLETTER_TOPIC", cls.deadletter),
            partitions=env_int(env, "STREAMPROC_TOPIC_PARTITIONS", cls.partitions, 1, 10_000),
            replication=env_int(env, "STREAMPROC_TOPIC_REPLICATION", cls.replication, 1, 32),
            retention_ms=env_int(env, "STREAMPROC_TOPIC_RETENTION_MS", cls.retention_ms, -1, 2**62),
        )


def environ() -> Mapping[str, str]:
    """The process environment, read in this one place."""
    return os.environ
