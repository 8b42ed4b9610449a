"""Consumer group admin for `replay`: describe a group, read its partitions' offsets, commit a reset plan.

Why not aiokafka 0.14's `AIOKafkaAdminClient.describe_consumer_groups`: it negotiates DescribeGroups
v3 with Kafka 4.1 (which serves v0-v6), but its `DescribeGroupsRequest_v3.RESPONSE_TYPE` is the v2
response, without the per-group int32 `AuthorizedOperations` that v3 adds. Each group then decodes
4 bytes short: one group passes by luck (trailing bytes are ignored), the next ones are read shifted
until a length prefix runs past the buffer: "Buffer underrun decoding string", connection closed.
The fix: a correct DescribeGroups v4 definition (v3 + members' group instance id; Kafka 2.4+) from
aiokafka's protocol types, sent by an aiokafka client; aiokafka's OffsetFetch, ListOffsets and
OffsetCommit definitions are right and used as they are.

DescribeGroups sees classic-protocol groups, which is what aiokafka and Faust (and Java clients by
default) form. A group of the KIP-848 `consumer` protocol reads as "Dead"; with committed offsets it
is reported as GroupNotClassic instead of being mistaken for an empty group. Applying a plan is a
commit with generation -1 and no member id, which brokers also refuse while a group has members.
Planning and the group errors are pure (streamproc.kafka.resets); Kafka's own errors leave translated by
errors.translate: KafkaUnavailable (retry later) or KafkaRejected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    LeaderNotAvailableError,
    for_code,
)
from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.protocol.types import Array, Boolean, Bytes, Int16, Int32, Schema
from aiokafka.structs import TopicPartition

from streamproc.kafka import resets
from streamproc.kafka.errors import KafkaRejected, KafkaUnavailable, translate
from streamproc.kafka.protocol import STR, Versioned
from streamproc.shared.settings import KafkaConnection

logger = logging.getLogger(__name__)
T = TypeVar("T")
_EARLIEST, _LATEST = -2, -1  # ListOffsets' special timestamps
# A member's commit was fenced: the group has (new) members or is rebalancing.
_BUSY_CODES = frozenset({22, 25, 27})  # ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS


# DescribeGroups v4, per Kafka's DescribeGroupsResponse.json (aiokafka's v3 response lacks AuthorizedOperations).
_MEMBERS_V4 = Array(
    ("member_id", STR),
    ("group_instance_id", STR),
    ("client_id", STR),
    ("client_host", STR),
    ("member_metadata", Bytes),
    ("member_assignment", Bytes),
)


class _DescribeGroupsResponseV4(Response):  # type: ignore[misc]  # aiokafka ships no types: Response is Any
    API_KEY = 15
    API_VERSION = 4
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "groups",
            Array(
                ("error_code", Int16),
                ("group", STR),
                ("state", STR),
                ("protocol_type", STR),
                ("protocol", STR),
                ("members", _MEMBERS_V4),
                ("authorized_operations", Int32),
            ),
        ),
    )


class _DescribeGroupsRequestV4(RequestStruct):  # type: ignore[misc]  # aiokafka ships no types: RequestStruct is Any
    API_KEY = 15
    API_VERSION = 4
    RESPONSE_TYPE = _DescribeGroupsResponseV4
    SCHEMA = Schema(("groups", Array(STR)), ("include_authorized_operations", Boolean))


class GroupAdmin:
    """Describe groups, read partition offsets, commit reset plans: `async with GroupAdmin(conn) as admin:`."""

    def __init__(self, conn: KafkaConnection, *, timeout: float = 30.0) -> None:
        self._conn = conn
        self._timeout = timeout  # how long transient errors (coordinator moving, broker down) are retried
        self._client: Any = None

    async def __aenter__(self) -> GroupAdmin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        client = AIOKafkaClient(
            **self._conn.client_kwargs(), client_id="streamproc-groups", request_timeout_ms=int(self._timeout * 1000)
        )
        try:
            await client.bootstrap()
        except (KafkaError, OSError, TimeoutError) as exc:
            await client.close()
            msg = f"Kafka unreachable at {self._conn.bootstrap_servers}: {type(exc).__name__}"
            raise KafkaUnavailable(msg) from exc
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _started(self) -> Any:
        if self._client is None:
            msg = "GroupAdmin not started"
            raise KafkaUnavailable(msg)
        return self._client

    async def describe(self, group_id: str) -> resets.GroupDescription:
        """State, active members and committed offsets of a classic group; UnknownGroup if it has neither."""
        group = await self._retrying(f"describe group {group_id}", lambda: self._describe_once(group_id))
        if group.state == "Dead" and group.committed:
            msg = f"group {group_id} is not a classic consumer group (KIP-848 consumer, streams or share protocol)"
            raise resets.GroupNotClassic(msg)
        if group.state == "Dead":
            msg = f"consumer group {group_id} does not exist (no members, no committed offsets)"
            raise resets.UnknownGroup(msg)
        return group

    async def _describe_once(self, group_id: str) -> resets.GroupDescription:
        client = self._started()
        node = await client.coordinator_lookup(0, group_id)  # 0: a group coordinator
        response = await client.send(node, Versioned(_DescribeGroupsRequestV4, [group_id], False, needs="Kafka 2.4+"))
        code, _, state, protocol_type, _, members, _ = response.groups[0]
        _raise_for(code, f"describe group {group_id}")
        fetched = await client.send(node, OffsetFetchRequest(group_id, None))  # None: every partition
        _raise_for(getattr(fetched, "error_code", 0), f"fetch offsets of group {group_id}")
        committed = {}
        for topic, partitions in fetched.topics:
            for partition, offset, _metadata, error in partitions:
                _raise_for(error, f"fetch offset of group {group_id} on {topic}[{partition}]")
                if offset >= 0:
                    committed[(topic, partition)] = offset
        return resets.GroupDescription(
            group_id=group_id,
            state=state,
            protocol_type=protocol_type,
            members=tuple(resets.Member(member_id=m[0], instance_id=m[1], client_id=m[2], host=m[3]) for m in members),
            committed=committed,
        )

    async def partition_states(
        self,
        group: resets.GroupDescription,
        topics: Sequence[str],
        *,
        partitions: Collection[int] | None = None,
        at: datetime | None = None,
    ) -> tuple[resets.PartitionState, ...]:
        """Log start/end (and the first offset at or after `at`) of the chosen partitions, with the group's lag."""

        async def once() -> tuple[resets.PartitionState, ...]:
            metadata = await self._metadata()
            known = {topic: metadata.partitions_for_topic(topic) or set() for topic in metadata.topics()}
            chosen = resets.choose_partitions(known, topics, partitions)
            start = await self._list_offsets(metadata, chosen, _EARLIEST)
            end = await self._list_offsets(metadata, chosen, _LATEST)
            found = await self._list_offsets(metadata, chosen, int(at.timestamp() * 1000)) if at else {}
            return tuple(
                resets.PartitionState(
                    topic=topic,
                    partition=partition,
                    committed=group.committed.get((topic, partition)),
                    log_start=start[topic, partition],
                    log_end=end[topic, partition],
                    at_time=found[topic, partition] if found.get((topic, partition), -1) >= 0 else None,
                )
                for topic, partition in chosen
            )

        return await self._retrying(f"list offsets of {', '.join(topics)}", once)

    async def replay_state(
        self,
        group_id: str,
        topics: Sequence[str],
        spec: resets.ResetSpec,
        *,
        partitions: Collection[int] | None = None,
        now: datetime | None = None,
    ) -> resets.ReplayState:
        """Everything `plan_reset(state, spec)` needs: the group and its chosen partitions, read now."""
        taken_at = now or datetime.now(UTC)
        lookup_time = resets.reset_time(spec, taken_at)
        group = await self.describe(group_id)
        states = await self.partition_states(group, topics, partitions=partitions, at=lookup_time)
        return resets.ReplayState(group=group, partitions=states, taken_at=taken_at, lookup_time=lookup_time)

    async def apply(self, plan: resets.ResetPlan) -> None:
        """Commit the plan's new offsets for its group; GroupHasActiveMembers (naming them) while any consumer runs."""
        group = await self.describe(plan.group_id)
        if group.members:
            raise resets.GroupHasActiveMembers(plan.group_id, group.members)
        topics: dict[str, list[tuple[int, int, str]]] = {}
        for reset in plan.partitions:
            topics.setdefault(reset.topic, []).append((reset.partition, reset.new, ""))
        # Generation -1 and no member id: an admin commit, which the coordinator takes only from outside the group.
        request = OffsetCommitRequest(plan.group_id, -1, "", -1, list(topics.items()))
        try:
            await self._retrying(
                f"commit offsets of {plan.group_id}", lambda: self._commit_once(plan.group_id, request)
            )
        except resets.GroupHasActiveMembers as exc:
            raise resets.GroupHasActiveMembers(plan.group_id, (await self.describe(plan.group_id)).members) from exc
        logger.info("group %s: committed new offsets on %d partition(s)", plan.group_id, len(plan.partitions))

    async def _commit_once(self, group_id: str, request: Any) -> None:
        client = self._started()
        node = await client.coordinator_lookup(0, group_id)
        response = await client.send(node, request)
        for topic, partitions in response.topics:
            for partition, code in partitions:
                if code in _BUSY_CODES:
                    raise resets.GroupHasActiveMembers(group_id, ())
                _raise_for(code, f"commit offset of group {group_id} on {topic}[{partition}]")

    async def _metadata(self) -> Any:
        try:
            return await self._started().fetch_all_metadata()
        except KafkaError as exc:
            if exc.retriable:
                raise
            # aiokafka raises a bare KafkaError when no known broker answered: the cluster is unreachable.
            raise KafkaConnectionError(str(exc)) from exc

    async def _list_offsets(self, metadata: Any, chosen: Sequence[tuple[str, int]], timestamp: int) -> dict[Any, int]:
        """ListOffsets from each leader: _EARLIEST, _LATEST, or the first offset at/after a time in ms (-1: none)."""
        by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
        for topic, partition in chosen:
            leader = metadata.leader_for_partition(TopicPartition(topic, partition))
            if leader is None or leader < 0:
                raise LeaderNotAvailableError(f"{topic}[{partition}]")
            by_leader.setdefault(leader, {}).setdefault(topic, []).append((partition, timestamp))
        offsets = {}
        for leader, topics in by_leader.items():
            response = await self._started().send(leader, OffsetRequest(-1, 0, list(topics.items())))
            for topic, partitions in response.topics:
                for partition, code, _timestamp, offset in partitions:
                    _raise_for(code, f"list offsets of {topic}[{partition}]")
                    offsets[topic, partition] = offset
        return offsets

    async def _retrying(self, what: str, once: Callable[[], Awaitable[T]]) -> T:
        """Run `once`, retrying Kafka's transient errors with capped backoff until the timeout; errors translated."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self._timeout, 0.1
        while True:
            try:
                return await once()
            except (KafkaError, OSError, TimeoutError) as exc:
                if isinstance(translate(exc), KafkaRejected):
                    msg = f"{what}: {type(exc).__name__}: {exc}"
                    raise KafkaRejected(msg) from exc
                if loop.time() + delay > deadline:
                    msg = f"{what}: no answer from Kafka within {self._timeout:.0f}s ({type(exc).__name__})"
                    raise KafkaUnavailable(msg) from exc
                logger.info("%s: %s, retrying in %.1fs", what, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def _raise_for(code: int, what: str) -> None:
    if code:
        raise for_code(code)(what)
