"""The topics as a contract: names operators type resolve to one topic; docs/topics.md is what the command writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from streamproc.datasets.registry import load_registry
from streamproc.shared.settings import TopicSettings
from streamproc.topics import docs
from streamproc.topics.contract import UnknownTopicName, pipeline_topics, resolve_topic

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = load_registry()


def test_docs_topics_md_is_exactly_what_schema_markdown_writes_for_the_default_settings() -> None:
    expected = docs.render(pipeline_topics(TopicSettings(), REGISTRY), TopicSettings())
    assert (ROOT / "docs" / "topics.md").read_text(encoding="utf-8") == expected, (
        "docs/topics.md is stale: run `python -m streamproc schema --markdown` with the default settings"
    )


def test_every_field_of_every_dataset_row_is_documented_with_its_phi_marked() -> None:
    text = docs.render(pipeline_topics(TopicSettings(), REGISTRY), TopicSettings())
    for dataset in REGISTRY:
        for name in dataset.column_names:
            assert f"| `row.{name}` |" in text
    assert "| `row.member_id` | string | yes | min length 1; max length 32 | **PHI** |" in text
    assert "| **PHI**; free text" in text.split("| `row.details` |")[1].split("\n")[0]


def test_field_docs_flatten_nested_structs_and_array_items() -> None:
    deadletter = resolve_topic("deadletter", TopicSettings(), REGISTRY)
    paths = [f.path for f in docs.field_docs(deadletter.schema())]
    assert {"errors", "errors[].field", "errors[].rule", "raw"} <= set(paths)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pharmacy_claims", "ns.claims.pharmacy"),
        ("claims.pharmacy", "ns.claims.pharmacy"),
        ("ns.claims.pharmacy", "ns.claims.pharmacy"),
        ("objects", "ns.ingest.objects"),
        ("ingest.deadletter", "ns.ingest.deadletter"),
        ("dlq", "ns.ingest.deadletter"),
    ],
)
def test_a_topic_is_found_by_its_name_with_or_without_the_namespace_or_its_dataset(text: str, expected: str) -> None:
    topics = TopicSettings.from_env({"STREAMPROC_TOPIC_NAMESPACE": "ns."})
    assert resolve_topic(text, topics, REGISTRY.qualified(topics)).name == expected


def test_an_unknown_topic_lists_what_is_accepted() -> None:
    with pytest.raises(UnknownTopicName, match=re.escape("one of: audit.records, audit_records, claims.pharmacy")):
        resolve_topic("claims", TopicSettings(), REGISTRY)


def test_each_schema_is_a_2020_12_json_schema_titled_with_its_topic() -> None:
    for ref in pipeline_topics(TopicSettings(), REGISTRY):
        schema = ref.schema()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"].startswith(ref.name)
        Draft202012Validator.check_schema(schema)
