"""Faust's topic creation at a worker's start survives one broker of three being down (seed 1644's finding)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError, NodeNotReadyError
from aiokafka.protocol.admin import CreateTopicsRequest
from aiokafka.protocol.metadata import MetadataRequest
from faust.transport.drivers import aiokafka as upstream

from streamproc.kafka import faust_driver


@dataclass
class Node:
    nodeId: int  # aiokafka's BrokerMetadata spells it so


@dataclass
class Cluster:
    nodes: list[int]
    controller: Node | None = None
    known_topics: set[str] = field(default_factory=set)

    def brokers(self) -> list[Node]:
        return [Node(n) for n in self.nodes]

    def topics(self) -> set[str]:
        return self.known_topics


@dataclass
class Response:
    controller_id: int = 0
    topic_errors: list[tuple[str, int, str | None]] = field(default_factory=list)


class Client:
    """aiokafka's client as topic creation uses it: broker `down` refuses every request; the first
    `create_failures` CreateTopics requests meet a controller that is not ready."""

    def __init__(self, *, down: int, controller: int, create_failures: int = 0) -> None:
        self.cluster = Cluster(nodes=[1, 2, 3])
        self.down, self.controller, self.create_failures = down, controller, create_failures
        self.created: list[tuple[int, str]] = []

    async def send(self, node_id: int, request: Any) -> Response:
        if node_id == self.down:
            msg = f"Attempt to send a request to node which is not ready (node id {node_id})."
            raise NodeNotReadyError(msg)
        if isinstance(request, MetadataRequest):
            return Response(controller_id=self.controller)
        assert isinstance(request, CreateTopicsRequest)
        if self.create_failures:
            self.create_failures -= 1
            msg = f"node {node_id} is not ready"
            raise NodeNotReadyError(msg)
        topic = request.create_topic_requests[0][0]
        self.created.append((node_id, topic))
        return Response(topic_errors=[(topic, 0, None)])

    async def fetch_all_metadata(self) -> Cluster:
        """As aiokafka's: every known broker in turn, skipping those that fail."""
        for node in self.cluster.nodes:
            try:
                response = await self.send(node, MetadataRequest([]))
            except KafkaError:
                continue
            return Cluster(nodes=self.cluster.nodes, controller=Node(response.controller_id))
        msg = "Unable to get cluster metadata over all known brokers"
        raise KafkaError(msg)


@dataclass
class Waited:
    result: Any
    stopped: bool = False


class Log:
    def info(self, *args: object) -> None: ...
    def debug(self, *args: object) -> None: ...


class Owner:
    """The Faust service that asks for the topic (mode's `Service.wait` and `should_stop`)."""

    should_stop = False
    log = Log()

    async def wait(self, coro: Any, **_: float) -> Waited:  # and a timeout, which the fakes never reach
        return Waited(await coro)


def transport(cls: type[upstream.Transport], patience: float = 10.0) -> Any:
    made: Any = cls.__new__(cls)  # no app needed for topic creation; mode's Service init is not involved
    made.create_patience = patience
    return made


async def create(made: Any, client: Client) -> None:
    await made._really_create_topic(Owner(), client, "ingest.objects", 3, 3)


async def test_a_topic_is_created_while_the_first_broker_of_the_metadata_is_down() -> None:
    client = Client(down=1, controller=2)
    await create(transport(faust_driver.Transport), client)
    assert client.created == [(2, "ingest.objects")]


async def test_upstream_creation_fails_in_the_same_case_which_is_why_the_driver_exists() -> None:
    # When faust-streaming fixes _get_controller_node this fails, and faust_driver can go.
    with pytest.raises(NodeNotReadyError):
        await create(transport(upstream.Transport), Client(down=1, controller=2))


async def test_a_creation_that_meets_a_controller_not_ready_is_tried_again() -> None:
    client = Client(down=3, controller=1, create_failures=2)
    await create(transport(faust_driver.Transport), client)
    assert client.created == [(1, "ingest.objects")]


async def test_past_its_patience_the_creation_lets_the_error_through() -> None:
    client = Client(down=3, controller=1, create_failures=5)
    with pytest.raises(NodeNotReadyError):
        await create(transport(faust_driver.Transport, patience=0.0), client)
    assert client.created == []


async def test_no_reachable_broker_is_an_error_that_is_tried_again_not_a_crash_at_once() -> None:
    client = Client(down=1, controller=1)
    client.cluster.nodes = [1]
    with pytest.raises(NodeNotReadyError, match="Unable to get cluster metadata"):
        await create(transport(faust_driver.Transport, patience=0.0), client)


async def test_an_unrelated_error_is_never_retried() -> None:
    class Broken(Client):
        async def fetch_all_metadata(self) -> Cluster:
            msg = "a bug"
            raise RuntimeError(msg)

    client = Broken(down=3, controller=1)
    with pytest.raises(RuntimeError, match="a bug"):
        await create(transport(faust_driver.Transport), client)


@dataclass
class FakeConsumer:
    """aiokafka's seek_to_committed as it is: a seek only where the committed offset is above 0."""

    committed: dict[Any, int | None]
    positions: dict[Any, int]

    async def seek_to_committed(self) -> dict[Any, int | None]:
        for tp, offset in self.committed.items():
            if offset and offset > 0:
                self.positions[tp] = offset
        return dict(self.committed)

    def seek(self, tp: Any, offset: int) -> None:
        self.positions[tp] = offset


async def test_a_rewind_after_a_rebalance_seeks_partitions_never_committed_or_at_0_to_the_start() -> None:
    a, b, c = (TopicPartition("objects", p) for p in range(3))
    consumer = FakeConsumer(committed={a: None, b: 0, c: 7}, positions={a: 1, b: 4, c: 9})  # past what was fetched
    committed = await faust_driver.seek_to_committed_or_start(consumer)
    assert consumer.positions == {a: 0, b: 0, c: 7}
    assert committed == {a: None, b: 0, c: 7}  # None kept: Faust's perform_seek resets the read offset on it


def test_the_app_transport_builds_its_consumer_with_the_rewinding_thread() -> None:
    assert issubclass(faust_driver.Transport.Consumer, faust_driver.Consumer)
    assert faust_driver.Consumer._new_consumer_thread is not upstream.Consumer._new_consumer_thread
    assert issubclass(faust_driver._ConsumerThread, upstream.AIOKafkaConsumerThread)
