"""Apache Kafka (KRaft) from Maven Central jars: one or more combined broker+controller nodes, each a local JVM
process with its own ports, data dir, log and PID file (STREAMPROC_KAFKA_BROKERS, default 1)."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import signal
import socket
import struct
import subprocess
import threading
import uuid
from io import BytesIO
from pathlib import Path

from aiokafka.protocol.api import RequestHeader_v1, ResponseHeader_v0
from aiokafka.protocol.metadata import MetadataRequest_v1, MetadataResponse_v1
from aiokafka.protocol.types import Int32

from devstack.process import Owned, StackError, read_owned, require_binary, require_port_free, spawn, stop
from devstack.settings import StackSettings, broker_ports

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


_CLUSTER_ID_LOCK = threading.Lock()  # brokers of one cluster start in parallel threads and share one cluster id


def brokers(settings: StackSettings) -> list[Kafka]:
    """Every broker of the stack's cluster, node 1 first."""
    return [Kafka(settings, node) for node in range(1, settings.kafka_brokers + 1)]


def bootstrap_servers(settings: StackSettings) -> str:
    """The cluster's bootstrap list: every broker's client listener."""
    return ",".join(broker.endpoint for broker in brokers(settings))


def topic_replication(broker_count: int) -> int:
    """Replicas of every topic on a cluster of `broker_count` brokers: min(3, N)."""
    return min(3, broker_count)


def min_insync_replicas(broker_count: int) -> int:
    """2 from three brokers on (one broker may be down and acks=all still succeeds), else 1."""
    return 2 if broker_count >= 3 else 1


class Kafka:
    """One broker+controller node on loopback; data and logs live in the state dir.

    With one broker (the default) it is named `kafka` and keeps the single-node layout (.stack/kafka/); in a
    cluster, node n is `kafka-n` with .stack/kafka-n/, logs/kafka-n.log and ports offset by 2(n-1)."""

    def __init__(self, settings: StackSettings, node: int = 1) -> None:
        if not 1 <= node <= settings.kafka_brokers:
            msg = f"no broker {node}: the cluster has brokers 1 to {settings.kafka_brokers}"
            raise StackError(msg)
        self.settings = settings
        self.node = node
        self.name = NAME if settings.kafka_brokers == 1 else f"{NAME}-{node}"
        self.port, self.controller_port = broker_ports(settings.kafka_port, settings.kafka_controller_port, node)
        self.home = settings.state_dir / self.name
        self.pid_file = self.home / "kafka.pid"
        self.log_file = settings.log_dir / f"{self.name}.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def owned(self) -> Owned | None:
        return read_owned(self.pid_file)

    def healthy(self) -> bool:
        return metadata_ok(self.endpoint)

    def start(self) -> Owned:
        s = self.settings
        java = require_binary("java", "install a JDK 17+ (apt-get install openjdk-17-jre-headless)")
        require_port_free(self.port, self.name, "STREAMPROC_KAFKA_PORT")
        require_port_free(self.controller_port, f"{self.name} controller", "STREAMPROC_KAFKA_CONTROLLER_PORT")
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

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> bool:
        """Send `sig` to this broker's process (if it is ours and alive); True if it was sent."""
        owned = self.owned()
        if owned is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(owned.pid, sig)
        return True

    def _cluster_id(self) -> str:
        if self.settings.kafka_brokers == 1:
            return new_cluster_id()
        path = self.settings.state_dir / "kafka-cluster.id"
        with _CLUSTER_ID_LOCK:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(new_cluster_id())
            return path.read_text().strip()

    def _format(self, jvm: list[str], classpath: str, config: Path) -> None:
        cluster_id = self._cluster_id()
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
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in server_properties(self.settings, self.node).items()))
        return path


def server_properties(settings: StackSettings, node: int) -> dict[str, str]:
    """The server.properties of broker `node` (pure): every node is a voter of the controller quorum; internal
    topics and topic defaults get min(3, N) replicas, and min.insync.replicas is 2 from three brokers on."""
    count = settings.kafka_brokers
    client, controller = broker_ports(settings.kafka_port, settings.kafka_controller_port, node)
    voters = ",".join(
        f"{n}@127.0.0.1:{broker_ports(settings.kafka_port, settings.kafka_controller_port, n)[1]}"
        for n in range(1, count + 1)
    )
    replicas, min_isr = str(topic_replication(count)), str(min_insync_replicas(count))
    home = settings.state_dir / (NAME if count == 1 else f"{NAME}-{node}")
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(home / "data"),
        "num.partitions": "1",
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        "log.retention.hours": "168",
    }
    if count > 1:
        # A frozen follower leaves the ISR after this long (Kafka's default is 30 s), so acks=all writes
        # stall for at most this while one broker is stopped; the others still make min.insync.replicas.
        lines["replica.lag.time.max.ms"] = "10000"
    return lines


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


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
    return registered_brokers(bootstrap, timeout) > 0


def registered_brokers(bootstrap: str, timeout: float = 3.0) -> int:
    """How many brokers the broker at `bootstrap` lists in its metadata (0 if it does not answer)."""
    host, _, port = bootstrap.rpartition(":")
    request = MetadataRequest_v1(topics=[])  # v1+: an empty list asks for brokers only, no topics
    frame = RequestHeader_v1(request, correlation_id=1, client_id="devstack-probe").encode() + request.encode()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(Int32.encode(len(frame)) + frame)
            size = Int32.decode(BytesIO(_read_exactly(sock, 4)))
            body = BytesIO(_read_exactly(sock, size))
        ResponseHeader_v0.decode(body)
        return len(MetadataResponse_v1.decode(body).brokers)
    except (OSError, ValueError, struct.error):
        return 0


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            msg = "connection closed mid-response"
            raise ConnectionError(msg)
        data += chunk
    return data
