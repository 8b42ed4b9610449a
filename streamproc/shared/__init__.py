"""Shared by the bridge and the worker: errors, retries, delivery accounting, logs, settings parsing, partitioning,
fault points, PHI masking and the consumed-record type (pure: msgspec, murmurhash2 and the standard library)."""
