"""Static group members leave on purpose: LeaveGroup v3 by group.instance.id (KIP-345), which aiokafka lacks.

The worker's consumers are static members (`group.instance.id`), so a worker restarted after a crash takes
its partitions back at once instead of waiting for the dead member's session to expire. A static member
does not leave its group when it stops, though; so a worker that stops cleanly removes its members here,
and `replay` (which needs an empty group) need not wait for their sessions to expire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from streamproc.kafka.errors import KafkaUnavailable, translate
from streamproc.shared.settings import KafkaConnection

logger = logging.getLogger(__name__)
_STR = String("utf-8")
_UNKNOWN_MEMBER_ID = 25  # the member had already left, or its session expired: nothing to remove


class _LeaveGroupResponseV3(Response):  # type: ignore[misc]  # aiokafka ships no types: Response is Any
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("members", Array(("member_id", _STR), ("group_instance_id", _STR), ("error_code", Int16))),
    )


class _LeaveGroupRequestV3(RequestStruct):  # type: ignore[misc]  # aiokafka ships no types: RequestStruct is Any
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = _LeaveGroupResponseV3
    SCHEMA = Schema(("group_id", _STR), ("members", Array(("member_id", _STR), ("group_instance_id", _STR))))


class _Leave:
    """What aiokafka's `client.send` asks of a request: `prepare` the struct for the broker's API versions."""

    def __init__(self, group_id: str, instance_ids: Sequence[str]) -> None:
        self._group_id = group_id
        self._instance_ids = instance_ids

    def prepare(self, versions: Mapping[int, tuple[int, int]]) -> Any:
        low, high = versions.get(_LeaveGroupRequestV3.API_KEY, (0, -1))
        if not low <= _LeaveGroupRequestV3.API_VERSION <= high:
            msg = f"the broker serves LeaveGroup v{low}-v{high}, not v3 (Kafka 2.4+)"
            raise KafkaUnavailable(msg)
        # An empty member id removes the static member by its instance id, whatever its current member id.
        return _LeaveGroupRequestV3(self._group_id, [("", instance) for instance in self._instance_ids])


async def leave_static(conn: KafkaConnection, group_id: str, instance_ids: Sequence[str]) -> None:
    """Remove these static members from the group now (best effort: an unknown member is already gone)."""
    client = AIOKafkaClient(**conn.client_kwargs(), client_id="streamproc-leave", request_timeout_ms=5000)
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(0, group_id)  # 0: a group coordinator
        response = await client.send(node, _Leave(group_id, instance_ids))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise translate(exc) from exc
    finally:
        await client.close()
    errors = [(instance, code) for _, instance, code in response.members if code not in (0, _UNKNOWN_MEMBER_ID)]
    if response.error_code or errors:
        raise translate(for_code(response.error_code or errors[0][1])())
    logger.info("group %s: static member(s) %s left", group_id, ", ".join(instance_ids))
