"""Kafka's own command line tools (Kafka 4.1 jars from the Maven cache), run against the local stack.

`python -m devstack kafka consumer-groups --group G --describe` is `kafka-consumer-groups.sh`: every
argument goes to the real Java tool class unchanged, its exit code comes back unchanged, and only
`--bootstrap-server` is added (the stack's broker) when the command line does not name a cluster.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from types import FrameType

from devstack.kafka import bootstrap_servers, resolve_classpath
from devstack.process import require_binary
from devstack.settings import StackSettings

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The command name of each tool (as in Kafka's bin/*.sh, without `kafka-` and `.sh`) -> its main class.
TOOLS = {
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "topics": "org.apache.kafka.tools.TopicCommand",
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
}

# What bin/kafka-run-class.sh gives a tool: a small heap; logging WARN and up, to stderr, so that
# stdout carries only the tool's own output.
_JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
_LOG4J2 = """\
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
"""


def command(settings: StackSettings, tool: str, args: Sequence[str]) -> list[str]:
    """The java command line that runs `tool` with `args` (resolving the jars with Maven the first time)."""
    if tool not in TOOLS:
        msg = f"unknown Kafka tool {tool!r}; one of: {', '.join(TOOLS)}"
        raise ValueError(msg)
    java = require_binary("java", "install a JDK 17+ (apt-get install openjdk-17-jre-headless)")
    classpath = resolve_classpath(settings, tools=True)
    log4j = settings.cache_dir / f"kafka-{settings.kafka_version}" / "tools-log4j2.properties"
    if not log4j.exists() or log4j.read_text() != _LOG4J2:
        log4j.write_text(_LOG4J2)
    jvm = [java, *_JVM_OPTIONS, f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    return [*jvm, TOOLS[tool], *with_bootstrap(args, bootstrap_servers(settings))]


def with_bootstrap(args: Sequence[str], default: str) -> list[str]:
    """`args`, plus `--bootstrap-server default` unless they already say which cluster (or only ask for help)."""
    named = any(arg == "--bootstrap-server" or arg.startswith("--bootstrap-server=") for arg in args)
    asks_help = any(arg in {"--help", "--version"} for arg in args)
    return list(args) if named or asks_help else [*args, "--bootstrap-server", default]


def run(settings: StackSettings, tool: str, args: Sequence[str]) -> int:
    """Run the tool in the foreground with this terminal's stdin/stdout/stderr; its exit code."""
    proc = subprocess.Popen(command(settings, tool, args))

    def forward(signum: int, _frame: FrameType | None) -> None:
        # Ctrl-C reaches the JVM from the terminal too; a signal sent to us alone must reach it as
        # well, or it would outlive us (a console consumer runs until stopped).
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code  # killed by signal N: exit 128+N, as a shell reports it
