"""Bring the local services up together, report their health, write `.stack/env`, tear them down."""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from devstack import terraform
from devstack.kafka import bootstrap_servers, brokers, topic_replication
from devstack.moto import Moto
from devstack.postgres import Postgres
from devstack.process import Owned, StackError, wait_for
from devstack.provision import AwsEndpoint, Provisioned, provision
from devstack.settings import StackSettings

logger = logging.getLogger(__name__)

PROVISIONERS = ("python", "terraform")
BROKERS_FILE = "kafka-brokers"  # the broker count `up` started, so `status` and `down` see every broker


class Service(Protocol):
    name: str

    @property
    def endpoint(self) -> str: ...
    def owned(self) -> Owned | None: ...
    def healthy(self) -> bool: ...
    def start(self) -> Owned: ...
    def stop(self) -> bool: ...


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Everything a client needs to reach the stack; rendered as `.stack/env`."""

    kafka_bootstrap_servers: str
    database_url: str
    aws: AwsEndpoint
    provisioned: Provisioned
    topic_replication: int = 1  # replicas of the topics the worker creates: min(3, brokers)

    def env(self) -> dict[str, str]:
        p = self.provisioned
        replicas = self.topic_replication
        replication = {"STREAMPROC_TOPIC_REPLICATION": str(replicas)} if replicas > 1 else {}
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "AWS_ENDPOINT_URL": self.aws.url or "",
            "AWS_DEFAULT_REGION": self.aws.region,
            "AWS_ACCESS_KEY_ID": self.aws.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws.secret_access_key,
            "STREAMPROC_BUCKET": p.bucket,
            "STREAMPROC_QUEUE_URL": p.queue_url,
            "STREAMPROC_DLQ_URL": p.dlq_url,
            **replication,
        }


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "healthy", "starting", "unhealthy" or "stopped"
    pid: int | None
    endpoint: str


@dataclass(frozen=True)
class UpResult:
    endpoints: Endpoints
    started: tuple[str, ...]  # names of services this call started (the rest were reused)


def services(settings: StackSettings) -> list[Service]:
    return [*brokers(settings), Postgres(settings), Moto(settings)]


def up(settings: StackSettings, provisioner: str = "python") -> UpResult:
    """Start what is not running, reuse what is healthy, provision AWS, write the env file.

    `provisioner` "python" creates the AWS side with devstack/provision.py, "terraform" applies terraform/."""
    if provisioner not in PROVISIONERS:
        msg = f"unknown provisioner {provisioner!r}: use one of {', '.join(PROVISIONERS)}"
        raise StackError(msg)
    if provisioner == "terraform":
        terraform.locate()  # fail before starting anything when terraform or its provider is missing
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / BROKERS_FILE).write_text(f"{settings.kafka_brokers}\n")
    todo = services(settings)
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        outcomes = list(pool.map(lambda svc: _bring_up(svc, settings.ready_timeout), todo))
    failures = [str(out) for out in outcomes if isinstance(out, StackError)]
    if failures:
        # Leave nothing behind: stop what this call started before reporting the failure.
        down(settings, only=[o for o in outcomes if isinstance(o, str)])
        raise StackError("\n".join(failures))
    endpoints = current_endpoints(settings, provisioner)
    write_env_file(settings, endpoints)
    return UpResult(endpoints=endpoints, started=tuple(o for o in outcomes if isinstance(o, str)))


def _bring_up(svc: Service, timeout: float) -> str | StackError | None:
    """The service's name if this call started it, None if reused, or the error."""
    try:
        started = svc.owned() is None
        if started:
            t0 = time.monotonic()
            svc.start()
            logger.info("%s: started, waiting until healthy", svc.name)
        if not wait_for(lambda: svc.healthy() or svc.owned() is None, timeout, 0.5) or not svc.healthy():
            return StackError(f"{svc.name}: not healthy at {svc.endpoint} within {timeout:.0f}s; see its log")
        after_ready = getattr(svc, "after_ready", None)
        if after_ready is not None:
            after_ready()
        if started:
            logger.info("%s: healthy after %.1fs", svc.name, time.monotonic() - t0)
    except StackError as exc:
        return exc
    return svc.name if started else None


def current_endpoints(settings: StackSettings, provisioner: str = "python") -> Endpoints:
    """Endpoints of the running local stack; provisions the AWS side (idempotent)."""
    postgres, moto = Postgres(settings), Moto(settings)
    aws = AwsEndpoint(url=moto.endpoint, region=settings.region)
    if provisioner == "terraform":
        # Same moto process as the last apply: its resources are still there (moto keeps state in memory).
        owned = moto.owned()
        key = f"{aws.url} {owned.pid}:{owned.start_ticks} {settings.aws}" if owned else None
        workspace = terraform.Workspace(terraform.locate(), settings.state_dir / "terraform", aws)
        made = terraform.provision(workspace, settings.aws, reuse_key=key)
    else:
        made = provision(aws, settings.aws)
    return Endpoints(
        kafka_bootstrap_servers=bootstrap_servers(settings),
        database_url=postgres.endpoint,
        aws=aws,
        provisioned=made,
        topic_replication=topic_replication(settings.kafka_brokers),
    )


def down(settings: StackSettings, only: Iterable[str] | None = None) -> list[str]:
    """Stop our services (all, or those named), by PID; returns the names that were stopped."""
    wanted = set(only) if only is not None else None
    stopped = [svc.name for svc in services(settings) if (wanted is None or svc.name in wanted) and svc.stop()]
    if wanted is None:
        settings.env_file.unlink(missing_ok=True)
    return stopped


def status(settings: StackSettings) -> list[ServiceStatus]:
    result = []
    for svc in services(settings):
        owned = svc.owned()
        state = "stopped" if owned is None else "healthy" if svc.healthy() else "unhealthy"
        result.append(ServiceStatus(svc.name, state, owned.pid if owned else None, svc.endpoint))
    return result


def write_env_file(settings: StackSettings, endpoints: Endpoints) -> None:
    lines = [f"export {key}={shlex.quote(value)}\n" for key, value in endpoints.env().items()]
    settings.env_file.write_text(
        "# written by `python -m devstack up`; source it to reach the local stack\n" + "".join(lines)
    )


def wipe(settings: StackSettings) -> None:
    """Delete the state dir (data, logs, env); refuses while any of our services still runs."""
    running = [svc.name for svc in services(settings) if svc.owned() is not None]
    if running:
        msg = f"refusing to wipe {settings.state_dir}: {', '.join(running)} still running"
        raise StackError(msg)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    for svc in services(settings):
        home = getattr(svc, "home", None)
        if home is not None and not str(home).startswith(str(settings.state_dir)):
            shutil.rmtree(home, ignore_errors=True)
