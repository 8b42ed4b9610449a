"""The SQS dead-letter queue after an end-to-end run: a message for every row the bulk broke on purpose.

The end-to-end figure then covers the whole dead-letter path at volume: each rejected row's dead letter
reaches the SQS DLQ through the bridge's mirror (at least once, so the queue holds at least that many).
Counted after the measured window, from the queue's attributes: receiving the messages would cost moto more.

What the DLQ costs on the local stack: moto computes a queue's attributes on every SendMessage (and, per
message, on every ReceiveMessage), walking the queue's messages each time, so each dead letter costs moto
~10 ms of CPU (a 300k-row run: 15 CPU seconds with 0.5% bad rows, 0.7 with none). SQS itself costs the
sender nothing per queued message; draining the queue during the run (as a DLQ consumer would) measured no
faster, and slower once the drain's own receives competed for moto.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aioboto3

_COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


async def wait_for_messages(client_kwargs: dict[str, Any], queue_url: str, count: int, limit: float) -> int:
    """The messages in the queue once at least `count` are there, or when `limit` seconds have passed."""
    deadline = time.monotonic() + limit
    async with aioboto3.Session().client("sqs", **client_kwargs) as sqs:
        while True:
            got = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=_COUNTS)
            held = sum(int(got["Attributes"].get(name, "0")) for name in _COUNTS)
            if held >= count or time.monotonic() >= deadline:
                return held
            await asyncio.sleep(0.5)
