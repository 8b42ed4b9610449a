"""Faust's aiokafka transport, with topic creation that survives a broker being down while the worker starts.

Faust creates its topics at start-up (the objects topic, the assignor's leader topic). Upstream, it asks the first
broker of the cluster metadata which node is the controller, without checking that broker is reachable, and any
error ends the worker: with one broker of three down, a starting worker exited with NodeNotReadyError (seed 1644
of the chaos run, docs/chaos.md). Here the controller comes from a metadata request that aiokafka sends to the
brokers in turn, skipping any that do not answer, and a creation that meets an unreachable or changing
controller is tried again for `CREATE_PATIENCE` seconds before the error is let through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError, NodeNotReadyError, RequestTimedOutError
from faust.transport.drivers import aiokafka as driver

from streamproc.shared.logs import describe
from streamproc.shared.retry import Backoff

logger = logging.getLogger(__name__)

CREATE_PATIENCE = 120.0  # seconds a topic creation keeps trying while brokers come and go
# What a creation meets while a broker is down or the controller moves; upstream raises a bare RuntimeError("Invalid
# controller: ...") for NOT_CONTROLLER (aiokafka's errors derive from RuntimeError too).
_PASSING = (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError, RuntimeError)


class Transport(driver.Transport):
    """`kafka://` as upstream, but topic creation skips brokers that are down and retries while they come back."""

    create_patience: float = CREATE_PATIENCE

    async def _get_controller_node(self, owner: Any, client: Any, *_: Any, **__: Any) -> int | None:
        # Upstream's `timeout` goes unused: aiokafka bounds each request by the client's request timeout.
        del owner
        try:
            cluster = await client.fetch_all_metadata()  # tries every known broker, skips those that fail
        except KafkaError as exc:
            raise NodeNotReadyError(str(exc)) from exc
        controller = cluster.controller
        if controller is None:
            msg = "no broker named a controller"
            raise NodeNotReadyError(msg)
        return int(controller.nodeId)

    async def _really_create_topic(self, owner: Any, client: Any, topic: str, *args: Any, **kwargs: Any) -> None:
        backoff, give_up = Backoff(0.5, 5.0), time.monotonic() + self.create_patience
        while True:
            try:
                await super()._really_create_topic(owner, client, topic, *args, **kwargs)
            except _PASSING as exc:
                foreign = not isinstance(exc, KafkaError) and not str(exc).startswith("Invalid controller")
                if foreign or owner.should_stop or time.monotonic() >= give_up:
                    raise
                delay = backoff.next()
                logger.warning("creating topic %s: %s; trying again in %.1fs", topic, describe(exc), delay)
                await asyncio.sleep(delay)
            else:
                return
