"""One set of env names: every name the compose file gives the bridge or the worker is read by that service's
settings, and the canonical AWS names are the ones `.stack/env`, compose and the Terraform outputs use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import pytest

from bridge.settings import load as load_bridge_settings
from devstack.provision import AwsEndpoint, Provisioned
from devstack.settings import REPO_ROOT
from devstack.stack import Endpoints
from streamproc.worker.settings import WorkerSettings
from tests.repo.test_compose_schema import environment

T = TypeVar("T")

CANONICAL_AWS_NAMES = ("STREAMPROC_BUCKET", "STREAMPROC_QUEUE_URL", "STREAMPROC_DLQ_URL")

# Names compose gives a service that its settings do not read YET. The lead empties this list as the changes
# land; the test fails for a name listed here once it is read, so the list cannot outlive its reason.
NOT_READ_YET: dict[str, dict[str, str]] = {
    "bridge": {},
    "worker": {},
}

LOADERS: dict[str, Callable[[Mapping[str, str]], object]] = {
    "bridge": load_bridge_settings,
    "worker": WorkerSettings.from_env,
}


class RecordingEnv(dict[str, str]):
    """An environment that records every name looked up through get, [] or `in`."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: T, /) -> str | T: ...
    def get(self, key: str, default: Any = None, /) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


def names_read(service: str, values: Mapping[str, str]) -> set[str]:
    env = RecordingEnv(values)
    LOADERS[service](env)
    return env.read


def test_the_recording_env_sees_every_kind_of_lookup() -> None:
    env = RecordingEnv({"A": "1"})
    assert (env.get("A"), env.get("B", "x"), env["A"], "C" in env) == ("1", "x", "1", False)
    assert env.read == {"A", "B", "C"}


@pytest.mark.parametrize("service", sorted(LOADERS))
def test_every_env_name_compose_gives_a_service_is_read_by_its_settings(service: str) -> None:
    given = environment(service)
    read = names_read(service, given)
    pending = NOT_READ_YET[service]
    unread = set(given) - read - set(pending)
    assert unread == set(), f"compose gives {service} names its settings never read: {sorted(unread)}"
    now_read = sorted(set(pending) & read)
    assert now_read == [], f"{service} reads {now_read} now: remove them from NOT_READ_YET"
    assert set(pending) <= set(given), f"NOT_READ_YET[{service!r}] lists names compose no longer gives"


def test_the_canonical_aws_names_are_used_by_the_stack_env_compose_and_terraform_outputs() -> None:
    made = Provisioned(bucket="b", queue_url="http://q", queue_arn="arn:q", dlq_url="http://d", dlq_arn="arn:d")
    stack_env = Endpoints(kafka_bootstrap_servers="k", database_url="d", aws=AwsEndpoint(url=None), provisioned=made)
    assert set(CANONICAL_AWS_NAMES) <= set(stack_env.env())
    assert {"STREAMPROC_QUEUE_URL", "STREAMPROC_DLQ_URL"} <= set(environment("bridge"))
    assert "STREAMPROC_BUCKET" in environment("terraform")
    outputs = (REPO_ROOT / "terraform" / "outputs.tf").read_text()
    for name in CANONICAL_AWS_NAMES:
        assert f"({name})" in outputs, f"terraform/outputs.tf does not say which output is {name}"
    for legacy in ("BRIDGE_QUEUE_URL", "BRIDGE_DLQ_URL"):
        assert all(legacy not in environment(service) for service in LOADERS), legacy
