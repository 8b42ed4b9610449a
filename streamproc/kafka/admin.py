"""Topics as the project declares them, created where missing."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from streamproc.kafka.errors import translate
from streamproc.shared.settings import KafkaConnection, TopicSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """One topic as the project declares it."""

    name: str
    partitions: int
    replication: int
    config: Mapping[str, str] = field(default_factory=dict)


def topic_specs(topics: TopicSettings, names: Iterable[str]) -> list[TopicSpec]:
    """Specs for `names` with the partitions, replication and retention of `topics`."""
    config = {"retention.ms": str(topics.retention_ms)}
    return [
        TopicSpec(name=n, partitions=topics.partitions, replication=topics.replication, config=config) for n in names
    ]


async def ensure_topics(conn: KafkaConnection, specs: Iterable[TopicSpec], timeout_ms: int = 30_000) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Safe to run concurrently."""
    wanted = {spec.name: spec for spec in specs}
    admin = AIOKafkaAdminClient(**conn.client_kwargs(), request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(
                name=s.name, num_partitions=s.partitions, replication_factor=s.replication, topic_configs=dict(s.config)
            )
            for s in missing
        ]
        response = await admin.create_topics(new, timeout_ms=timeout_ms)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise translate(exc) from exc
    finally:
        await admin.close()
    return _created(response.topic_errors)


def _created(topic_errors: Sequence[Sequence[Any]]) -> list[str]:
    created = []
    for topic, code, message in (tuple(entry)[:3] for entry in topic_errors):
        if code == 0:
            created.append(topic)
            logger.info("created topic %s", topic)
        elif for_code(code) is not TopicAlreadyExistsError:  # another process won the race: fine
            raise translate(for_code(code)(message))
    return created
