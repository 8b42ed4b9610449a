"""The topic contract for downstream consumers: which topics, their JSON Schemas, and docs/topics.md (pure)."""
