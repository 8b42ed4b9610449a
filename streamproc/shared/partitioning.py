"""Kafka's key -> partition mapping (murmur2, as the Java client, librdkafka's murmur2 and aiokafka do) (pure)."""

from __future__ import annotations

from murmurhash2 import murmurhash2

MURMUR2_SEED = 0x9747B28C  # Kafka's DefaultPartitioner: murmur2(key) & 0x7fffffff % partitions


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key."""
    return (murmurhash2(key, MURMUR2_SEED) & 0x7FFFFFFF) % partitions
