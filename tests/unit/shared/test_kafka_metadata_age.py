"""Every Kafka client refreshes its view of partition leaders within seconds, not aiokafka's 5 minutes: a consumer
that meets NotLeaderForPartition while resetting a new partition's position waits until that refresh."""

from __future__ import annotations

from streamproc.shared.settings import METADATA_MAX_AGE_MS, KafkaConnection

AIOKAFKA_DEFAULT_MS = 300_000


def test_every_client_built_from_the_connection_refreshes_metadata_within_ten_seconds() -> None:
    kwargs = KafkaConnection(bootstrap_servers="127.0.0.1:9092").client_kwargs()
    assert kwargs["metadata_max_age_ms"] == METADATA_MAX_AGE_MS <= 10_000 < AIOKAFKA_DEFAULT_MS


def test_so_do_the_faust_apps_own_consumer_and_producer() -> None:
    from streamproc.app import app  # builds the app from the environment's settings, as the worker does

    assert app.conf.consumer_metadata_max_age_ms == METADATA_MAX_AGE_MS
    assert app.conf.producer_metadata_max_age_ms == METADATA_MAX_AGE_MS
