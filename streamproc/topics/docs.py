"""docs/topics.md for downstream consumers, rendered from the topics' JSON Schemas (pure).

`python -m streamproc schema --markdown` writes it; tests/unit/topics/test_topic_contract.py keeps the committed
file equal to what this renders for the default settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from streamproc.contract.events import SCHEMA_VERSION
from streamproc.shared.settings import TopicSettings
from streamproc.topics.contract import TopicRef

_CONSTRAINTS = (
    ("minLength", "min length {}"),
    ("maxLength", "max length {}"),
    ("pattern", "pattern `{}`"),
    ("minimum", ">= {}"),
    ("maximum", "<= {}"),
)


# What the wire types' fields mean where the types carry no description of their own (struct, field).
NOTES = {
    ("ObjectEvent", "key"): "the object key as stored in S3 (URL-decoded)",
    ("ObjectEvent", "size"): "bytes, from the S3 notification",
    ("ObjectEvent", "etag"): "the object's ETag, without quotes",
    ("ObjectEvent", "version_id"): "the S3 version id (versioned buckets only)",
    ("ObjectEvent", "sequencer"): "S3's ordering token for events of one key",
    ("ObjectEvent", "event_name"): (
        "e.g. `ObjectCreated:Put`; `ObjectCreated:Reprocess` when re-emitted by `reprocess`, `ObjectCreated:Release` "
        "by `release`, `ObjectCreated:Manifest` when its manifest arrived, `ObjectCreated:ManifestOverdue` when it "
        "did not in time"
    ),
    ("ObjectEvent", "event_time"): "ISO 8601 time S3 gave the event (UTC); kept by `reprocess`",
    ("ObjectEvent", "forced"): "true when re-emitted by `reprocess`: run again even if this version finished",
    ("Provenance", "version"): "the S3 version id, else the ETag",
    ("Provenance", "line"): "the physical line the record starts on (the header is line 1)",
    ("Provenance", "event_time"): "ISO 8601 time of the S3 event (UTC); later provenance wins",
    ("Provenance", "sequencer"): "S3's ordering token for events of one key (hex): orders two PUTs of one time",
    ("DeadLetter", "stage"): "`bridge`, `split` or `sink`",
    ("DeadLetter", "reason"): "why, in words; names fields and rules, never values",
    (
        "DeadLetter",
        "error_class",
    ): "e.g. `InvalidRow`, `MalformedRow`, `InvalidEncoding`, `UnknownDataset`, `MissingColumns`",
    ("DeadLetter", "retriable"): "whether sending the same input again could succeed",
    ("DeadLetter", "occurred_at"): "ISO 8601 time the record was rejected (UTC)",
    ("DeadLetter", "line"): "line of the source file, for rows",
    ("DeadLetter", "raw"): "the input with PHI-bearing fields masked (`***`), or only a fingerprint",
    ("FieldError", "rule"): "the broken rule, e.g. `required`, `ndc_format`, `npi_check_digit`",
}


@dataclass(frozen=True)
class FieldDoc:
    """One row of a topic's field table: a dotted path into the value (`errors[].rule` for array items)."""

    path: str
    type: str
    required: bool
    constraints: str
    description: str


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    return defs[ref.rsplit("/", 1)[1]] if isinstance(ref, str) else schema


def _split_null(schema: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1 and len(kept) < len(options):
            return kept[0], True
    return schema, False


def _type_name(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    target = _resolve(schema, defs)
    if "enum" in target:
        return "string"
    kind = str(target.get("type", "any"))
    if kind == "array":
        return f"array of {_type_name(target.get('items', {}), defs)}"
    if kind == "object" and "title" in target:
        return f"object ({target['title']})"
    return f"{kind} ({target['format']})" if "format" in target else kind


def _constraints(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    target = _resolve(schema, defs)
    parts = [text.format(target[name]) for name, text in _CONSTRAINTS if name in target]
    if "enum" in target:
        parts.append("one of " + ", ".join(f"`{v}`" for v in target["enum"]))
    if "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'])}`")
    return "; ".join(parts)


def field_docs(schema: Mapping[str, Any]) -> list[FieldDoc]:
    """Every field of a topic's value, nested structs and array items flattened into dotted paths."""
    defs = schema.get("$defs", {})
    return list(_fields(_resolve(schema, defs), defs, ""))


def _fields(struct: Mapping[str, Any], defs: Mapping[str, Any], prefix: str) -> Iterator[FieldDoc]:
    required = set(struct.get("required", ()))
    for name, prop in struct.get("properties", {}).items():
        inner, nullable = _split_null(prop)
        merged = {**inner, **({"default": prop["default"]} if "default" in prop else {})}
        target = _resolve(inner, defs)
        kind = _type_name(inner, defs) + (" or null" if nullable else "")
        note = NOTES.get((str(struct.get("title")), name), "")
        description = str(inner.get("description") or target.get("description") or note).replace("|", "\\|")
        yield FieldDoc(prefix + name, kind, name in required, _constraints(merged, defs), description)
        if target.get("type") == "object":
            yield from _fields(target, defs, f"{prefix}{name}.")
        elif target.get("type") == "array":
            item = _resolve(target.get("items", {}), defs)
            if item.get("type") == "object":
                yield from _fields(item, defs, f"{prefix}{name}[].")


_HOW_TO_DECODE = """\
## How to decode

- **Keys** are UTF-8 strings (see each topic). Records with the same key go to the same partition
  (Kafka's default murmur2 partitioner), so per key they are in order.
- **Values** are UTF-8 JSON objects, written by msgspec from the types in `streamproc/contract/events.py` and
  `streamproc/datasets/`. Every value carries `schema_version` (now **{version}**). Fields may be added
  only with a new schema version: the producers never write a field the schema does not list
  (`additionalProperties: false`), so a consumer may validate strictly.
- **Types on the wire**: decimals are JSON strings (`"12.50"`, exact: parse them as decimals, never as
  floats); dates are `YYYY-MM-DD`; times are ISO 8601 / RFC 3339 with a UTC offset.
- **JSON Schema** (draft 2020-12) of each topic's value: `python -m streamproc schema TOPIC`
  (all topics: `python -m streamproc schema`). Python consumers can decode with `msgspec` against the
  same types, or validate with `jsonschema`:

  ```python
  import json, subprocess, jsonschema

  schema = json.loads(subprocess.check_output(["python", "-m", "streamproc", "schema", "claims.pharmacy"]))
  jsonschema.Draft202012Validator(schema).validate(json.loads(record.value))
  ```

- **PHI**: row events carry the row as loaded, PHI fields included (marked below); treat the row
  topics as PHI. Dead letters are masked when they are built (`***`).
- **Names**: environments that share a cluster prefix every topic with `STREAMPROC_TOPIC_NAMESPACE`.
"""


def render(refs: list[TopicRef], topics: TopicSettings) -> str:
    """docs/topics.md: the topics table, how to decode, and every field of every topic's value."""
    days = topics.retention_ms / 86_400_000
    lines = [
        "# Topics",
        "",
        "<!-- Generated by `python -m streamproc schema --markdown`; do not edit by hand. -->",
        "",
        "The pipeline's topics are a contract for downstream consumers. Partitions "
        f"({topics.partitions}, `STREAMPROC_TOPIC_PARTITIONS`), replication ({topics.replication}, "
        f"`STREAMPROC_TOPIC_REPLICATION`) and retention ({days:g} days, `STREAMPROC_TOPIC_RETENTION_MS`) "
        "are the same for every topic.",
        "",
        "| topic | key | value | partitions |",
        "|---|---|---|---|",
        *(f"| `{r.name}` | {r.key} | {r.value} | {topics.partitions} |" for r in refs),
        "",
        _HOW_TO_DECODE.format(version=SCHEMA_VERSION),
    ]
    for ref in refs:
        lines += _topic_section(ref)
    return "\n".join(lines).rstrip("\n") + "\n"


def _topic_section(ref: TopicRef) -> list[str]:
    lines = [f"## `{ref.name}`", "", f"Key: {ref.key}. Value: {ref.value}.", ""]
    lines += ["| field | type | required | constraints | description |", "|---|---|---|---|---|"]
    for f in field_docs(ref.schema()):
        description = f.description
        if f.path.startswith("row.") and f.path[4:] in ref.phi_fields:
            description = "**PHI**" + (f"; {description}" if description not in {"", "PHI"} else "")
        required = "yes" if f.required else "no"
        lines.append(f"| `{f.path}` | {f.type} | {required} | {f.constraints} | {description} |")
    return [*lines, ""]
