"""Apache Kafka (KRaft, single node) from Maven Central jars, run as a local JVM process."""

from __future__ import annotations

import base64
import logging
import socket
import struct
import subprocess
import uuid
from io import BytesIO
from pathlib import Path

from aiokafka.protocol.api import RequestHeader_v1, ResponseHeader_v0
from aiokafka.protocol.metadata import MetadataRequest_v1, MetadataResponse_v1
from aiokafka.protocol.types import Int32

from devstack.process import Owned, StackError, read_owned, require_binary, require_port_free, spawn, stop
from devstack.settings import StackSettings

logger = logging.getLogger(__name__)

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
NAME = "kafka"

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
"""


class Kafka:
    """One broker+controller on loopback; data and logs live in the state dir."""

    name = NAME

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "kafka"
        self.pid_file = self.home / "kafka.pid"
        self.log_file = settings.log_dir / "kafka.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    def owned(self) -> Owned | None:
        return read_owned(self.pid_file)

    def healthy(self) -> bool:
        return metadata_ok(self.endpoint)

    def start(self) -> Owned:
        s = self.settings
        java = require_binary("java", "install a JDK 17+ (apt-get install openjdk-17-jre-headless)")
        require_port_free(s.kafka_port, NAME, "STREAMPROC_KAFKA_PORT")
        require_port_free(s.kafka_controller_port, "kafka controller", "STREAMPROC_KAFKA_CONTROLLER_PORT")
        classpath = resolve_classpath(s)
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        log4j = self.home / "log4j2.properties"
        log4j.write_text(_LOG4J2)
        jvm = [java, f"-Xms{s.kafka_heap}", f"-Xmx{s.kafka_heap}", f"-Dlog4j2.configurationFile={log4j}"]
        if not (self.home / "data" / "meta.properties").exists():
            self._format(jvm, classpath, config)
        cmd = [*jvm, "-XX:+UseG1GC", "-Djava.awt.headless=true", "-cp", classpath, "kafka.Kafka", str(config)]
        return spawn(cmd, pid_file=self.pid_file, log_file=self.log_file, cwd=self.home)

    def stop(self) -> bool:
        # SIGTERM makes the broker shut down cleanly; KRaft shutdown takes a few seconds.
        return stop(self.pid_file, timeout=60.0)

    def _format(self, jvm: list[str], classpath: str, config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = [
            *jvm,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(config),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            msg = f"kafka storage format failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
            raise StackError(msg)

    def _write_config(self) -> Path:
        s = self.settings
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "168",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path


def resolve_classpath(settings: StackSettings, *, tools: bool = False) -> str:
    """The broker's runtime classpath (with `tools`: plus Kafka's CLI tools), resolved once by Maven into the cache."""
    cache = settings.cache_dir / f"kafka-{settings.kafka_version}"
    cp_file = cache / ("tools-classpath.txt" if tools else "classpath.txt")
    if cp_file.exists():
        classpath = cp_file.read_text().strip()
        if classpath and all(Path(jar).exists() for jar in classpath.split(":")):
            return classpath
    mvn = require_binary("mvn", "install Maven 3.8+ (apt-get install maven); it resolves the Kafka jars once")
    cache.mkdir(parents=True, exist_ok=True)
    what = "kafka-tools" if tools else "kafka_2.13"
    logger.info("resolving Kafka %s jars (%s) with Maven into %s", settings.kafka_version, what, settings.cache_dir)
    cmd = [
        mvn, "-B", "-q", "-f", str(POM), *(["-P", "tools"] if tools else []),
        f"-Dmaven.repo.local={settings.cache_dir / 'm2'}",
        f"-Dkafka.version={settings.kafka_version}",
        "dependency:build-classpath", "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={cp_file}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1200)
    if done.returncode != 0 or not cp_file.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        msg = f"Maven could not resolve org.apache.kafka:{what}:{settings.kafka_version}:\n{tail}"
        raise StackError(msg)
    return cp_file.read_text().strip()


def metadata_ok(bootstrap: str, timeout: float = 3.0) -> bool:
    """True if the broker answers a metadata request and lists itself.

    A plain blocking socket, not an aiokafka client: while the JVM starts every refused connection
    would be an ERROR line from aiokafka's loggers, and silencing those loggers hides real client errors.
    """
    host, _, port = bootstrap.rpartition(":")
    request = MetadataRequest_v1(topics=[])  # v1+: an empty list asks for brokers only, no topics
    frame = RequestHeader_v1(request, correlation_id=1, client_id="devstack-probe").encode() + request.encode()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(Int32.encode(len(frame)) + frame)
            size = Int32.decode(BytesIO(_read_exactly(sock, 4)))
            body = BytesIO(_read_exactly(sock, size))
        ResponseHeader_v0.decode(body)
        return bool(MetadataResponse_v1.decode(body).brokers)
    except (OSError, ValueError, struct.error):
        return False


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            msg = "connection closed mid-response"
            raise ConnectionError(msg)
        data += chunk
    return data
