"""Kafka requests aiokafka lacks or defines wrongly, sent through an aiokafka client: the one way to version them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.types import String

STR = String("utf-8")


class Versioned:
    """What aiokafka's `client.send` asks of a request: `prepare` the struct for the broker's API versions.

    `request_type` is one aiokafka `RequestStruct` subclass (its API_KEY and API_VERSION); a broker that does
    not serve that version is refused with IncompatibleBrokerVersion, which `errors.translate` makes terminal.
    """

    def __init__(self, request_type: Any, *fields: Any, needs: str) -> None:
        self._type = request_type
        self._fields = fields
        self._needs = needs

    def prepare(self, versions: Mapping[int, tuple[int, int]]) -> Any:
        low, high = versions.get(self._type.API_KEY, (0, -1))
        if not low <= self._type.API_VERSION <= high:
            name = self._type.__name__.removeprefix("_").split("Request")[0]
            msg = f"the broker serves {name} v{low}-v{high}, not v{self._type.API_VERSION} ({self._needs})"
            raise IncompatibleBrokerVersion(msg)
        return self._type(*self._fields)
