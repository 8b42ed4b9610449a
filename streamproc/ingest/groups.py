"""Consumer group names (pure): one rule for the worker, `replay` and the stats page."""

from __future__ import annotations

from streamproc.datasets.model import Dataset


def sink_group(app_id: str, dataset: Dataset) -> str:
    """The consumer group of a dataset's sink: what `replay` resets."""
    return f"{app_id}-sink-{dataset.name}"
