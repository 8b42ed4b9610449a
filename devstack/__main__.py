"""Command line: `python -m devstack up|down|status|logs|demo|kafka|broker|chaos`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

from devstack import kafka_tools, stack
from devstack.kafka import Kafka
from devstack.process import StackError, wait_for
from devstack.settings import MAX_BROKERS, StackConfigError, StackSettings

SERVICES = ("kafka", "postgres", "moto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description="Local Kafka, PostgreSQL and moto (S3+SQS)."
    )
    _brokers_option(
        parser,
        text="Kafka brokers of the stack (default: STREAMPROC_KAFKA_BROKERS, else what `up` last started, else 1)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start (or reuse) every service, provision S3/SQS, write .stack/env")
    _brokers_option(
        up,
        dest="up_brokers",
        text="start a cluster of N combined broker+controller nodes (replication min(3, N); "
        "min.insync.replicas 2 from N=3)",
    )
    up.add_argument(
        "--provision",
        choices=stack.PROVISIONERS,
        default="python",
        help="create the bucket and queues with devstack/provision.py (python, the default) or by applying "
        "terraform/ with a local terraform and AWS provider (terraform)",
    )
    down = sub.add_parser("down", help="stop the services this stack started")
    down.add_argument("--wipe", action="store_true", help="also delete the state dir (data and logs)")
    sub.add_parser("status", help="each service, its endpoint and health; exit 1 unless all are healthy")
    demo = sub.add_parser("demo", help="the whole pipeline on the local stack, with sample files")
    demo.add_argument("--once", action="store_true", help="exit when the files finished: 0 only if all is as expected")
    demo.add_argument("--rows", type=int, default=20_000, help="rows in the main claims file (default 20000)")
    demo.add_argument("--bad-share", type=float, default=0.01, help="share of rows that break a rule (default 0.01)")
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the files (default 300)")
    logs = sub.add_parser("logs", help="print the end of a service's log")
    logs.add_argument(
        "service",
        choices=(*SERVICES, "bridge", "worker", *(f"kafka-{n}" for n in range(1, MAX_BROKERS + 1))),
        help="which service (kafka-N: broker N of a cluster)",
    )
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")
    kafka = sub.add_parser(
        "kafka",
        help="run one of Kafka's own tools (kafka-<tool>.sh) against the stack's broker",
        description="Kafka's own tools from the Kafka jars: every argument goes to the tool as is; "
        "--bootstrap-server defaults to the stack's broker. Example: python -m devstack kafka "
        "consumer-groups --group G --topic T --reset-offsets --to-earliest --execute",
    )
    kafka.add_argument("tool", choices=tuple(kafka_tools.TOOLS), help="which tool (as in bin/kafka-<tool>.sh)")
    kafka.add_argument("args", nargs=argparse.REMAINDER, help="the tool's own arguments (see `... <tool> --help`)")
    broker = sub.add_parser("broker", help="stop, kill, freeze, thaw or start one broker of the cluster by id")
    broker.add_argument(
        "action", choices=BROKER_ACTIONS, help="stop: SIGTERM; kill: SIGKILL; freeze/thaw: SIGSTOP/SIGCONT; start"
    )
    broker.add_argument("node", type=int, help="the broker's id (1 to N)")
    chaos = sub.add_parser("chaos", help="the randomized fault run on a private three-broker cluster (docs/chaos.md)")
    chaos.add_argument("--minutes", type=float, default=3.0, help="how long faults are injected (default 3)")
    chaos.add_argument("--seed", type=int, default=1, help="the seed of the schedule and the files (default 1)")
    chaos.add_argument("--report", default=None, help="the JSON report's path (default test-output/chaos-seedS.json)")
    chaos.add_argument(
        "--state-dir", default=None, help="the run's own state dir (default test-output/chaos-state/, wiped first)"
    )
    return parser


BROKER_ACTIONS = ("stop", "kill", "freeze", "thaw", "start")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        settings = _with_brokers(StackSettings.from_env(), args)
        return _run(args, settings)
    except (StackConfigError, StackError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2


def _brokers_option(parser: argparse.ArgumentParser, *, text: str, dest: str = "brokers") -> None:
    """`--brokers N` (1 to MAX_BROKERS), on the command itself or on `up`."""
    parser.add_argument("--brokers", type=int, choices=range(1, MAX_BROKERS + 1), metavar="N", dest=dest, help=text)


def _with_brokers(settings: StackSettings, args: argparse.Namespace) -> StackSettings:
    """The broker count: --brokers, else STREAMPROC_KAFKA_BROKERS, else the count `up` last recorded."""
    count = getattr(args, "up_brokers", None) or args.brokers
    if count is None and not os.environ.get("STREAMPROC_KAFKA_BROKERS", "").strip():
        recorded = settings.state_dir / stack.BROKERS_FILE
        text = recorded.read_text().strip() if recorded.exists() else ""
        count = int(text) if text.isdigit() and 1 <= int(text) <= MAX_BROKERS else None
    if count is None or count == settings.kafka_brokers:
        return settings
    return StackSettings.from_env({**os.environ, "STREAMPROC_KAFKA_BROKERS": str(count)})


def _run(args: argparse.Namespace, settings: StackSettings) -> int:
    if args.command == "broker":
        return _broker(settings, args.action, args.node)
    if args.command == "chaos":
        from devstack.chaos import run as chaos_run

        return chaos_run.main(args.minutes, args.seed, args.report, args.state_dir)
    if args.command == "up":
        t0 = time.monotonic()
        result = stack.up(settings, args.provision)
        verb = "started " + ", ".join(result.started) if result.started else "everything was already running"
        print(f"stack ready in {time.monotonic() - t0:.1f}s ({verb}); endpoints in {settings.env_file}")
        _print_status(settings)
        return 0
    if args.command == "kafka":
        return kafka_tools.run(settings, args.tool, args.args)
    if args.command == "demo":
        from devstack import demo as demo_job

        return demo_job.main(args.once, args.rows, args.bad_share, args.timeout)
    if args.command == "down":
        from devstack.demo import stop_apps

        stop_apps(settings)
        stopped = stack.down(settings)
        print("stopped " + ", ".join(stopped) if stopped else "nothing of ours was running")
        if args.wipe:
            stack.wipe(settings)
            print(f"removed {settings.state_dir}")
        return 0
    if args.command == "status":
        return 0 if _print_status(settings) else 1
    path = settings.log_dir / f"{args.service}.log"
    if not path.exists():
        print(f"no log yet at {path}", file=sys.stderr)
        return 1
    print("".join(path.read_text(errors="replace").splitlines(keepends=True)[-args.lines :]), end="")
    return 0


def _broker(settings: StackSettings, action: str, node: int) -> int:
    broker = Kafka(settings, node)
    if action == "start":
        if broker.owned() is None:
            broker.start()
        ok = wait_for(broker.healthy, settings.ready_timeout, 0.5)
        print(f"{broker.name}: {'healthy' if ok else 'not healthy'} at {broker.endpoint}")
        return 0 if ok else 1
    if action == "stop":
        done = broker.stop()
    else:
        sig = {"kill": signal.SIGKILL, "freeze": signal.SIGSTOP, "thaw": signal.SIGCONT}[action]
        done = broker.kill(sig)
        if action == "kill":
            wait_for(lambda: broker.owned() is None, 10.0)
    print(f"{broker.name}: {action} {'done' if done else 'skipped: not running'}")
    return 0 if done else 1


def _print_status(settings: StackSettings) -> bool:
    rows = stack.status(settings)
    print(f"{'service':<10} {'state':<10} {'pid':>8}  endpoint")
    for row in rows:
        print(f"{row.name:<10} {row.state:<10} {row.pid or '-':>8}  {row.endpoint}")
    return all(row.state == "healthy" for row in rows)


if __name__ == "__main__":
    sys.exit(main())
