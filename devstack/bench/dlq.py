"""The SQS dead-letter queue during an end-to-end run: drained as it fills, and each row's dead letter counted.

The end-to-end figure then proves the whole dead-letter path at volume: every row the bulk breaks on purpose
reaches the SQS DLQ through the bridge's mirror (at least once; counted once per (key, line)).

What the DLQ costs on the local stack: moto computes a queue's attributes on every SendMessage and, per
message, on every ReceiveMessage, walking the queue's messages each time, so each dead letter costs moto
~10 ms of CPU (a 300k-row run: 15 CPU seconds with 0.5% bad rows, 0.7 with none). Draining keeps the queue
short, as a DLQ consumer would, but measured no faster: the cost stays in the emulator, not on the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Self

import aioboto3


class DlqDrain:
    """Receives (and deletes) every message of the queue; remembers the (key, line) each one names."""

    def __init__(self, client_kwargs: dict[str, Any], queue_url: str) -> None:
        self._kwargs, self._url = client_kwargs, queue_url
        self.rows: set[tuple[str, int]] = set()  # (S3 key, line) of each row dead letter, at-least-once collapsed
        self.messages = 0
        self._task: asyncio.Task[None] | None = None
        self._came = asyncio.Event()  # set whenever messages came

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_rows(self, keys: set[str], count: int, limit: float) -> int:
        """The bulk's row dead letters received once `count` of them came or `limit` seconds passed."""
        deadline = time.monotonic() + limit
        while True:
            if self._task is not None and self._task.done():
                self._task.result()  # the drain failed: say why rather than time out
            self._came.clear()  # before counting: no task runs between here and the wait
            got, left = self.rows_of(keys), deadline - time.monotonic()
            if got >= count or left <= 0:
                return got
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._came.wait(), left)

    def rows_of(self, keys: set[str]) -> int:
        return sum(1 for key, _ in self.rows if key in keys)

    async def _run(self) -> None:
        async with aioboto3.Session().client("sqs", **self._kwargs) as sqs:
            while True:
                got = await sqs.receive_message(
                    QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
                )
                messages = got.get("Messages", [])
                if not messages:
                    continue
                for m in messages:
                    attrs = m.get("MessageAttributes", {})
                    if "key" in attrs and "line" in attrs:
                        self.rows.add((attrs["key"]["StringValue"], int(attrs["line"]["StringValue"])))
                self.messages += len(messages)
                self._came.set()
                entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
                await sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
