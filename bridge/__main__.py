"""`python -m bridge [all|relay|dlq-mirror]`: run the relay and/or the DLQ mirror until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from bridge.bootstrap import COMMANDS, Service, build, http_server
from bridge.http import HttpServer
from bridge.settings import BridgeSettings, SettingsError, load
from streamproc.shared.logs import install_log_format

logger = logging.getLogger("bridge")


async def serve(services: Sequence[Service]) -> int:
    """Run until a signal (exit 0 after a graceful stop) or a service crash (the others stop, exit 1)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop_all() -> None:
        if not stopping.is_set():
            stopping.set()
            logger.info("stopping: in-flight batches finish first")
        for service in services:
            service.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_all)
    tasks = [asyncio.create_task(service.run()) for service in services]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        stop_all()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    crashed = [o for o in outcomes if isinstance(o, BaseException)]
    for exc in crashed:
        logger.error("bridge service crashed", exc_info=exc)
    return 1 if crashed else 0


async def serve_with_http(settings: BridgeSettings, services: Sequence[Service]) -> int:
    """`serve`, with /healthz and /metrics up meanwhile; an address already taken stops the bridge (exit 1)."""
    http = http_server(settings, services)
    refused = await _start_http(http)
    if refused is not None:
        where = f"{settings.http_host}:{settings.http_port}"
        logger.error("cannot serve /healthz and /metrics on %s (%s); set BRIDGE_HTTP_PORT", where, refused)
        return 1
    try:
        return await serve(services)
    finally:
        await http.stop()


async def _start_http(http: HttpServer) -> str | None:
    """None once serving, else why the address was refused."""
    try:
        await http.start()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge", description=__doc__)
    parser.add_argument("command", nargs="?", default="all", choices=COMMANDS, help="what to run (default: all)")
    args = parser.parse_args(argv)
    try:
        settings = load()
    except SettingsError as exc:
        sys.stderr.write(f"bridge: configuration error: {exc}\n")
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_format(settings.log_format)  # tracebacks without exception text (a driver's may quote a value)
    logger.info("bridge %s starting with %r", args.command, settings)
    return asyncio.run(serve_with_http(settings, build(settings, args.command)))


if __name__ == "__main__":
    sys.exit(main())
