"""The environment a deployment's bridge and workers inherit: coverage's subprocess settings only when traced."""

from __future__ import annotations

from devstack.deployment import inherited

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
