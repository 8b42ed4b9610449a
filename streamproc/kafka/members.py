"""Static group members leave on purpose: LeaveGroup v3 by group.instance.id (KIP-345), which aiokafka lacks.

The worker's consumers are static members (`group.instance.id`), so a worker restarted after a crash takes
its partitions back at once instead of waiting for the dead member's session to expire. A static member
does not leave its group when it stops, though; so a worker that stops cleanly removes its members here,
and `replay` (which needs an empty group) need not wait for their sessions to expire.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.types import Array, Int16, Int32, Schema

from streamproc.kafka.errors import translate
from streamproc.kafka.protocol import STR, Versioned
from streamproc.shared.settings import KafkaConnection

logger = logging.getLogger(__name__)
_UNKNOWN_MEMBER_ID = 25  # the member had already left, or its session expired: nothing to remove


class _LeaveGroupResponseV3(Response):  # type: ignore[misc]  # aiokafka ships no types: Response is Any
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("members", Array(("member_id", STR), ("group_instance_id", STR), ("error_code", Int16))),
    )


class _LeaveGroupRequestV3(RequestStruct):  # type: ignore[misc]  # aiokafka ships no types: RequestStruct is Any
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = _LeaveGroupResponseV3
    SCHEMA = Schema(("group_id", STR), ("members", Array(("member_id", STR), ("group_instance_id", STR))))


async def leave_static(conn: KafkaConnection, group_id: str, instance_ids: Sequence[str]) -> None:
    """Remove these static members from the group now (best effort: an unknown member is already gone)."""
    client = AIOKafkaClient(**conn.client_kwargs(), client_id="streamproc-leave", request_timeout_ms=5000)
    try:
        await client.bootstrap()
        node = await client.coordinator_lookup(0, group_id)  # 0: a group coordinator
        # An empty member id removes the static member by its instance id, whatever its current member id.
        members = [("", instance) for instance in instance_ids]
        response = await client.send(node, Versioned(_LeaveGroupRequestV3, group_id, members, needs="Kafka 2.4+"))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise translate(exc) from exc
    finally:
        await client.close()
    errors = [(instance, code) for _, instance, code in response.members if code not in (0, _UNKNOWN_MEMBER_ID)]
    if response.error_code or errors:
        raise translate(for_code(response.error_code or errors[0][1])())
    logger.info("group %s: static member(s) %s left", group_id, ", ".join(instance_ids))
