"""The topics as a public contract (pure): which topics exist, their keys, value schemas, and names operators type.

`schema`, `tail` and `replay` resolve what an operator types (a topic name with or without the
namespace, a dataset name, `objects`, `deadletter`) here; docs/topics.md is rendered from the same
list (streamproc.topics.docs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from streamproc.contract.events import JSON_SCHEMA_DIALECT, DeadLetter, ObjectEvent, row_event_type
from streamproc.datasets.model import Dataset
from streamproc.datasets.registry import Registry
from streamproc.shared.settings import TopicSettings

Kind = Literal["objects", "dataset", "deadletter"]


class UnknownTopicName(ValueError):
    """A name that is none of the pipeline's topics; the message lists what is accepted."""


@dataclass(frozen=True, kw_only=True)
class TopicRef:
    """One topic of the pipeline: its (qualified) name, what it carries, and the dataset if it is a row topic."""

    name: str
    kind: Kind
    key: str  # what the message key is, in words
    value: str  # what one value is, in words
    dataset: Dataset | None = None

    @property
    def phi_fields(self) -> frozenset[str]:
        """Fields of `row` to mask when showing values (dead letters are masked when they are built)."""
        return self.dataset.phi_fields if self.dataset else frozenset()

    def schema(self) -> dict[str, Any]:
        """The JSON Schema (2020-12) of this topic's values, generated from the msgspec types."""
        if self.dataset is not None:
            return schema_for(self.dataset)
        value_type = ObjectEvent if self.kind == "objects" else DeadLetter
        title = f"{self.name} ({value_type.__name__})"
        return {"$schema": JSON_SCHEMA_DIALECT, "title": title} | msgspec.json.schema(value_type)


def pipeline_topics(topics: TopicSettings, registry: Registry) -> list[TopicRef]:
    """Every topic, in pipeline order: objects, each dataset's rows, dead letters."""
    refs = [
        TopicRef(
            name=topics.objects,
            kind="objects",
            key="`bucket/key` of the S3 object",
            value="one S3 object version to ingest (ObjectEvent)",
        )
    ]
    refs += [
        TopicRef(
            name=d.topic,
            kind="dataset",
            key=f"`{d.natural_key}`, the row's natural key",
            value=f"one validated `{d.name}` row with its provenance (RowEvent)",
            dataset=d,
        )
        for d in registry
    ]
    refs.append(
        TopicRef(
            name=topics.deadletter,
            kind="deadletter",
            key="`bucket/key` of the source file, else `topic/partition/offset` (or `queue/message id`)",
            value="one rejected row or failed file or message, PHI masked (DeadLetter)",
        )
    )
    return refs


def _names(ref: TopicRef, topics: TopicSettings) -> Iterator[str]:
    yield ref.name
    yield ref.name.removeprefix(topics.namespace)
    if ref.dataset is not None:
        yield ref.dataset.name
    elif ref.kind == "objects":
        yield "objects"
    else:
        yield from ("deadletter", "deadletters", "dlq")


def resolve_topic(text: str, topics: TopicSettings, registry: Registry) -> TopicRef:
    """The topic an operator means: its name (with or without the namespace), a dataset name, objects, deadletter."""
    refs = pipeline_topics(topics, registry)
    for ref in refs:
        if text in set(_names(ref, topics)):
            return ref
    accepted = ", ".join(sorted({name for ref in refs for name in _names(ref, topics)}))
    msg = f"{text!r} is not a topic of this pipeline; one of: {accepted}"
    raise UnknownTopicName(msg)


def schema_for(dataset: Dataset) -> dict[str, Any]:
    """The JSON Schema of the values on a dataset's topic."""
    schema = msgspec.json.schema(row_event_type(dataset.row_type))
    return {"$schema": JSON_SCHEMA_DIALECT, "title": f"{dataset.topic} ({dataset.name} row event)"} | schema
