"""aiokafka errors translated into the project's: transient (retry in place) or terminal."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable, ProducerClosed

from streamproc.shared.errors import TerminalError, TransientError

# Errors aiokafka marks non-retriable although they mean "the cluster is not there right now".
_UNAVAILABLE = (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable, ProducerClosed, OSError, TimeoutError)


class KafkaUnavailable(TransientError):
    """Brokers unreachable, timed out, leader moving: retry with backoff."""


class KafkaRejected(TerminalError):
    """The cluster refused the request itself (authorization, size, bad topic name): retrying will not help."""


class CommitRejected(TransientError):
    """The group rebalanced before the commit: the records come again to the partitions' next owner."""


def translate(exc: BaseException) -> KafkaUnavailable | KafkaRejected:
    """The project's error for an aiokafka (or socket) error; its message names the error, never a record.

    One definition of retriable for both services: aiokafka's own `retriable` flag, plus the
    connection-level errors it does not flag.
    """
    if isinstance(exc, KafkaUnavailable | KafkaRejected):
        return exc
    text = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "retriable", False):
        return KafkaUnavailable(f"Kafka unavailable: {text}")
    return KafkaRejected(f"Kafka refused the request: {text}")
