"""moto server: S3 and SQS emulation on a loopback port, in a local process."""

from __future__ import annotations

import http.client
import importlib.util
import sys

from devstack.process import Owned, StackError, read_owned, require_port_free, spawn, stop
from devstack.settings import StackSettings

NAME = "moto"


class Moto:
    """moto's standalone server; its state lives in memory, so provisioning runs after each start."""

    name = NAME

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.pid_file = settings.state_dir / "moto.pid"
        self.log_file = settings.log_dir / "moto.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.settings.moto_port}"

    def owned(self) -> Owned | None:
        return read_owned(self.pid_file)

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.settings.moto_port, timeout=2)
        try:
            conn.request("GET", "/moto-api/")
            return conn.getresponse().status == http.client.OK
        except (http.client.HTTPException, OSError):
            return False
        finally:
            conn.close()

    def start(self) -> Owned:
        if importlib.util.find_spec("moto.server") is None:
            msg = "moto[server] is not installed in this Python: run `make install`"
            raise StackError(msg)
        require_port_free(self.settings.moto_port, NAME, "STREAMPROC_MOTO_PORT")
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.settings.moto_port)]
        return spawn(cmd, pid_file=self.pid_file, log_file=self.log_file)

    def stop(self) -> bool:
        return stop(self.pid_file, timeout=15.0)
