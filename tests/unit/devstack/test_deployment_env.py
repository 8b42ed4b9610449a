"""The environment a deployment's bridge and workers inherit: coverage's subprocess settings only when traced."""

from __future__ import annotations

from pathlib import Path

from devstack.deployment import Deployment, inherited
from devstack.provision import AwsEndpoint, Provisioned
from devstack.stack import Endpoints

ENVIRON = {
    "PATH": "/usr/bin",
    "COVERAGE_PROCESS_CONFIG": '{"run": {"branch": true}}',
    "COVERAGE_PROCESS_START": "pyproject.toml",
    "DATABASE_URL": "postgresql://x",
}


def test_an_untraced_deployment_passes_on_everything_but_coverages_settings() -> None:
    assert inherited(ENVIRON, traced=False) == {"PATH": "/usr/bin", "DATABASE_URL": "postgresql://x"}


def test_a_traced_deployment_passes_on_everything() -> None:
    assert inherited(ENVIRON, traced=True) == ENVIRON


def test_an_untraced_view_starts_processes_without_coverage_that_the_deployment_still_stops(tmp_path: Path) -> None:
    made = Provisioned(bucket="b", queue_url="http://q", queue_arn="arn:q", dlq_url="http://dlq", dlq_arn="arn:dlq")
    stack = Endpoints(
        kafka_bootstrap_servers="127.0.0.1:1",
        database_url="postgresql://x",
        aws=AwsEndpoint(url=None),
        provisioned=made,
    )
    d = Deployment(stack, made, "postgresql://x", ENVIRON, tmp_path)
    view = d.untraced()
    assert view.env == inherited(ENVIRON, traced=False)
    assert d.env == ENVIRON  # the deployment itself stays traced
    assert view.started is d.started and view.ports is d.ports  # what the view starts, the deployment stops
