"""Kafka producer adapter for the worker: idempotent, acks=all, errors carry `retriable`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, TopicAuthorizationFailedError

from streamproc.settings import KafkaConnection

logger = logging.getLogger(__name__)

_TERMINAL: tuple[type[BaseException], ...] = (MessageSizeTooLargeError, TopicAuthorizationFailedError)


class ProduceError(Exception):
    """A record could not be produced; `retriable` is false only when retrying cannot help."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class Producer:
    """One AIOKafkaProducer; `send` returns a future that resolves when the broker acknowledged."""

    def __init__(self, kafka: KafkaConnection, *, linger_ms: int = 5, max_batch_size: int = 1 << 20) -> None:
        self._kwargs: dict[str, Any] = {
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "max_request_size": 8 << 20,
            **kafka.client_kwargs(),
        }
        self._producer: Any = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self._kwargs)
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            self._producer = None
            raise _translate(exc) from exc

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]:
        if self._producer is None:
            msg = "Producer.start() was not called"
            raise ProduceError(msg, retriable=True)
        try:
            sent: asyncio.Future[Any] = await self._producer.send(topic, value, key=key)
        except KafkaError as exc:
            raise _translate(exc) from exc
        return sent

    async def wait(self, pending: list[asyncio.Future[Any]]) -> None:
        """Wait until every future of `send` resolved (the broker acknowledged) or raise ProduceError."""
        try:
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise _translate(exc) from exc


def _translate(exc: KafkaError) -> ProduceError:
    terminal = isinstance(exc, _TERMINAL)
    return ProduceError(f"kafka produce failed: {type(exc).__name__}", retriable=not terminal)
