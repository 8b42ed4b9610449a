"""The stats page while PostgreSQL is down: /healthz/ says 503 and why, the sinks' lag grows, then all recovers.

The worker runs against a PostgreSQL server of this test's own, so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from devstack.postgres import Postgres
from devstack.process import free_port, wait_for
from devstack.settings import StackSettings
from devstack.stack import Endpoints
from streamproc.contract.events import Provenance, event_envelope
from streamproc.datasets import samples
from streamproc.datasets.registry import load_registry
from streamproc.ingest.parsing import CsvFileParser, ValidRow
from streamproc.shared.settings import TopicSettings
from tests.integration.web_support import WebDeployment, eventually, web_deployment

POSTGRES_DOWN = '<div class="check bad" data-check="postgres">'


def _start(pg: Postgres) -> None:
    pg.start()
    assert wait_for(pg.healthy, 60), "private PostgreSQL did not become healthy"
    pg.after_ready()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[Postgres]:
    pg = Postgres(StackSettings(state_dir=tmp_path / "stack", postgres_port=free_port()))
    _start(pg)
    try:
        yield pg
    finally:
        pg.stop()


def claim_events(unique: str, rows: int) -> tuple[str, list[tuple[bytes, bytes]]]:
    """Valid claim row events as the fan-out would produce them, and the (namespaced) topic they go to."""
    registry = load_registry().qualified(TopicSettings(namespace=f"{unique}."))
    dataset = registry.by_name("pharmacy_claims")
    key = "pharmacy_claims/while-down.csv"
    parser = CsvFileParser(registry, key, gzip=False)
    parsed = [*parser.feed(samples.csv_bytes("pharmacy_claims", rows, 0.0, seed=61, prefix="O")), *parser.close()]
    head, middle = event_envelope(
        dataset.name, Provenance(bucket=f"web-{unique}", key=key, version="v1", line=1, event_time=datetime.now(UTC))
    )
    events = []
    for item in parsed:
        assert isinstance(item, ValidRow)
        events.append((item.key, b"%b%d%b%b}" % (head, item.line, middle, item.row_json)))
    return dataset.topic, events


async def produce(d: WebDeployment, topic: str, events: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=d.stack.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in events])
    finally:
        await producer.stop()


async def sink_lag(d: WebDeployment) -> int | None:
    """The claims sink group's total lag, once /api/lag/ lists it."""
    lag = (await d.get("/api/lag/")).json()
    group = f"{d.env['STREAMPROC_APP_ID']}-sink-pharmacy_claims"
    return next((g["lag"] for g in lag["groups"] if g["group"] == group), None)


@pytest.mark.slow
async def test_a_stopped_database_turns_healthz_503_and_grows_sink_lag_until_it_returns(
    stack: Endpoints, unique: str, tmp_path: Path, private_postgres: Postgres
) -> None:
    async with web_deployment(stack, unique, tmp_path, server_url=private_postgres.endpoint) as d:
        d.start("worker")
        await d.wait_web()
        assert await eventually("the claims sink group listed with no lag", lambda: _equal(sink_lag(d), 0)) == 0

        await asyncio.to_thread(private_postgres.stop)
        down = await eventually("/healthz/ answering 503", lambda: _status(d, "/healthz/", 503))
        checks = down.json()["checks"]
        assert down.json()["status"] == "unhealthy"
        assert (checks["kafka"]["ok"], checks["kafka"]["reason"]) == (True, None)
        assert checks["postgres"]["ok"] is False
        assert checks["postgres"]["reason"]

        topic, events = claim_events(unique, 500)
        await produce(d, topic, events)  # rows the sink cannot write while the database is away
        assert await eventually("sink lag of all 500 rows while PostgreSQL is down", lambda: _equal(sink_lag(d), 500))
        page = await eventually(
            "the dashboard showing PostgreSQL down", lambda: _containing(d, "/pipeline/", POSTGRES_DOWN)
        )
        assert page.status == 200
        assert "ledger unavailable" in page.text
        metrics = (await d.get("/metrics")).text
        assert 'streamproc_dependency_up{service="postgres"} 0.0' in metrics
        assert 'streamproc_consumer_lag{group="' + f"web-{unique}-sink-pharmacy_claims" in metrics
        for path in ("/api/files/", "/api/files/1/", "/api/deadletters/", "/api/deadletters/?file=1"):
            answer = await d.get(path)
            assert (answer.status, "error" in answer.json()) == (503, True), path
        file_page = await d.get("/pipeline/files/1/")
        assert (file_page.status, "unavailable" in file_page.text) == (503, True)

        await asyncio.to_thread(_start, private_postgres)
        await eventually("/healthz/ answering 200 again", lambda: _status(d, "/healthz/", 200))
        assert await eventually("the sink drained after the outage", lambda: _equal(sink_lag(d), 0)) == 0


async def _status(d: WebDeployment, path: str, status: int) -> Any:
    answer = await d.try_get(path)
    return answer if answer is not None and answer.status == status else None


async def _containing(d: WebDeployment, path: str, text: str) -> Any:
    answer = await d.try_get(path)
    return answer if answer is not None and text in answer.text else None


async def _equal(value: Any, wanted: int) -> int | None:
    got = await value
    return got if got == wanted else None
