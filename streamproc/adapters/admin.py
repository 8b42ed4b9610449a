"""Kafka admin adapter: create the project's topics when missing (the broker does not auto-create)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streamproc.settings import KafkaConnection

logger = logging.getLogger(__name__)


class TopicSetupError(Exception):
    """The topics could not be listed or created."""

    retriable = True


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    retention_ms: int | None = None


async def ensure_topics(kafka: KafkaConnection, specs: Sequence[TopicSpec]) -> list[str]:
    """Create every topic of `specs` that does not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            await admin.create_topics([_new_topic(s) for s in missing])
            logger.info("created topics %s", ", ".join(s.name for s in missing))
        return [s.name for s in missing]
    except TopicAlreadyExistsError:
        return []  # another worker created them between our list and create
    except KafkaError as exc:
        msg = f"could not set up topics: {type(exc).__name__}"
        raise TopicSetupError(msg) from exc
    finally:
        await admin.close()


def _new_topic(spec: TopicSpec) -> NewTopic:
    configs = {"retention.ms": str(spec.retention_ms)} if spec.retention_ms is not None else {}
    return NewTopic(
        name=spec.name, num_partitions=spec.partitions, replication_factor=spec.replication, topic_configs=configs
    )
