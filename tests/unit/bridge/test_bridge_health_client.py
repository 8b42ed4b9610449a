"""The worker's client of the bridge's health view, against a real HTTP server on loopback.

What the worker learns must be one of three things: SQS is healthy, the bridge says SQS is not (and why),
or whatever answered is not the bridge's health view (and the URL it asked), never an exception of aiohttp's.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from streamproc.adapters.bridge_health import BridgeHealth, BridgeUnreachable, QueueUnhealthy

ANSWERS = {
    "/healthy": (200, b'{"status": "ok", "checks": {"sqs": {"ok": true}}}'),
    "/sick": (503, b'{"status": "failing", "checks": {"sqs": {"ok": false, "reason": "queue gone"}}}'),
    "/sick-silent": (503, b'{"status": "failing", "checks": {"sqs": {"ok": false}}}'),
    "/no-sqs": (200, b'{"status": "ok", "checks": {"kafka": {"ok": true}}}'),
    "/garbage": (200, b"<html>a proxy page</html>"),
    "/not-found": (404, b'{"status": "ok", "checks": {"sqs": {"ok": true}}}'),
}


async def _answer(request: web.Request) -> web.Response:
    status, body = ANSWERS[request.path]
    return web.Response(status=status, body=body, content_type="application/json")


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{name}", _answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _ask(url: str) -> None:
    health = BridgeHealth(url, timeout=2.0)
    await health.start()
    try:
        await health.sqs()
    finally:
        await health.stop()


async def test_a_healthy_report_passes(server: str) -> None:
    await _ask(f"{server}/healthy")  # raises on anything but a healthy SQS check


@pytest.mark.parametrize(("path", "says"), [("/sick", "queue gone"), ("/sick-silent", "SQS unhealthy")])
async def test_the_bridges_own_reason_is_passed_on(server: str, path: str, says: str) -> None:
    with pytest.raises(QueueUnhealthy, match=f"the bridge reports: {says}"):
        await _ask(server + path)


@pytest.mark.parametrize(("path", "status"), [("/no-sqs", 200), ("/garbage", 200), ("/not-found", 404)])
async def test_an_answer_that_is_not_the_bridges_report_names_the_url_and_status(
    server: str, path: str, status: int
) -> None:
    with pytest.raises(BridgeUnreachable, match=f"{server}{path} answered HTTP {status} without an SQS check"):
        await _ask(server + path)


async def test_nothing_listening_is_unreachable_with_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/healthz/"
    with pytest.raises(BridgeUnreachable, match="did not answer"):
        await _ask(url)


async def test_asking_before_start_is_a_clear_error() -> None:
    with pytest.raises(BridgeUnreachable, match=r"start\(\) was not called"):
        await BridgeHealth("http://127.0.0.1:1/").sqs()
