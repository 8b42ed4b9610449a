"""Session-scoped real services for integration tests, from the same devstack module `make up` uses."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import stack as devstack
from devstack.settings import StackSettings
from devstack.stack import Endpoints


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)
    if any("test_terraform_apply.py" in item.nodeid for item in items) and not config.option.collectonly:
        from tests.integration.test_terraform_apply import apply_in_background

        apply_in_background(Path(tempfile.mkdtemp(prefix="streamproc-terraform-")))


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    return StackSettings.from_env()


@pytest.fixture(scope="session")
def stack(stack_settings: StackSettings) -> Iterator[Endpoints]:
    """A running stack: reuses one that is already up, else starts it and stops what it started."""
    if stack_settings.backend == "testcontainers":
        from devstack.containers import container_stack

        with container_stack(stack_settings) as endpoints:
            yield endpoints
        return
    result = devstack.up(stack_settings)
    try:
        yield result.endpoints
    finally:
        devstack.down(stack_settings, only=result.started)


@pytest.fixture
def unique() -> str:
    """A short suffix that keeps this test's topics, groups, buckets and queues its own."""
    return uuid.uuid4().hex[:10]
