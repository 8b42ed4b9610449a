"""Sends dead letters to the dead-letter topic through the producer port; waits and retries where asked."""

from __future__ import annotations

from collections.abc import Sequence

from streamproc.contract.events import ENCODER, DeadLetter
from streamproc.ingest.ports import RecordProducer
from streamproc.shared.delivery import Delivery, confirm
from streamproc.shared.retry import Backoff


class DeadLetterWriter:
    """Encodes dead letters (keyed by their source) and produces them; `write` returns once acknowledged."""

    def __init__(self, producer: RecordProducer, topic: str, *, backoff_cap: float = 30.0) -> None:
        self._producer = producer
        self._topic = topic
        self._backoff_cap = backoff_cap

    @property
    def topic(self) -> str:
        return self._topic

    @staticmethod
    def record(letter: DeadLetter) -> tuple[bytes, bytes]:
        return letter.message_key.encode(), ENCODER.encode(letter)

    async def send(self, letters: Sequence[DeadLetter]) -> Delivery:
        """Hand the letters over without waiting for acks."""
        return await self._producer.send(self._topic, [self.record(letter) for letter in letters])

    async def write(self, letters: Sequence[DeadLetter]) -> None:
        """Produce and return once acknowledged; transient failures are waited out, a terminal one raises."""
        records = [self.record(letter) for letter in letters]
        delivery = await self._producer.send(self._topic, records)
        await confirm(
            delivery,
            records,
            lambda again: self._producer.send(self._topic, again),
            patience=self._producer.ack_timeout,
            backoff=Backoff(0.2, self._backoff_cap),
            what=f"dead letters to {self._topic}",
        )
