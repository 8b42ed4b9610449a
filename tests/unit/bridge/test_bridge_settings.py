"""Bridge settings from the environment: defaults, overrides, errors that name the variable, no secrets shown."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from bridge.settings import BridgeSettings, QueueRef, SettingsError, load


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = load({})
    assert settings == BridgeSettings()
    assert (settings.queue.name, settings.dlq.name) == ("s3-event-queue", "s3-event-dlq")
    assert (settings.wait_seconds, settings.max_messages, settings.visibility_timeout) == (20, 10, None)
    assert settings.kafka.bootstrap_servers == "127.0.0.1:39092"
    assert (settings.topics.objects, settings.topics.deadletter) == ("ingest.objects", "ingest.deadletter")
    assert settings.aws.endpoint_url is None


def test_every_variable_is_read() -> None:
    settings = load(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:35000",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "STREAMPROC_QUEUE_URL": "http://127.0.0.1:35000/123456789012/q",
            "STREAMPROC_DLQ_NAME": "my-dlq",
            "BRIDGE_WAIT_SECONDS": "1",
            "BRIDGE_MAX_MESSAGES": "5",
            "BRIDGE_POLLERS": "3",
            "BRIDGE_PRODUCE_TIMEOUT": "4.5",
            "BRIDGE_VISIBILITY_TIMEOUT": "9",
            "BRIDGE_BACKOFF_INITIAL": "0.1",
            "BRIDGE_BACKOFF_CAP": "2",
            "BRIDGE_STATS_INTERVAL": "0",
            "BRIDGE_DLQ_GROUP": "g",
            "BRIDGE_DLQ_MAX_RECORDS": "7",
            "BRIDGE_CREATE_TOPICS": "no",
            "BRIDGE_LOG_LEVEL": "debug",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            "STREAMPROC_OBJECTS_TOPIC": "objects-x",
            "STREAMPROC_DEADLETTER_TOPIC": "dead-x",
        }
    )
    assert settings.aws.endpoint_url == "http://127.0.0.1:35000"
    assert settings.aws.region == "eu-west-1"
    assert settings.queue == QueueRef(url="http://127.0.0.1:35000/123456789012/q")
    assert settings.queue.label == "q"
    assert settings.dlq == QueueRef(name="my-dlq")
    assert (settings.wait_seconds, settings.max_messages, settings.pollers) == (1, 5, 3)
    assert (settings.produce_timeout, settings.backoff_initial, settings.backoff_cap) == (4.5, 0.1, 2.0)
    assert (settings.stats_interval, settings.dlq_group, settings.dlq_max_records) == (0.0, "g", 7)
    assert (settings.create_topics, settings.log_level) == (False, "DEBUG")
    assert settings.visibility_timeout == 9
    assert settings.kafka.bootstrap_servers == "k:9092"
    assert (settings.topics.objects, settings.topics.deadletter) == ("objects-x", "dead-x")


def test_the_aws_endpoint_reaches_the_sqs_client() -> None:
    assert load({"AWS_ENDPOINT_URL": "http://moto:5000"}).aws.client_kwargs()["endpoint_url"] == "http://moto:5000"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BRIDGE_WAIT_SECONDS": "21"}, "BRIDGE_WAIT_SECONDS"),
        ({"BRIDGE_WAIT_SECONDS": "soon"}, "BRIDGE_WAIT_SECONDS"),
        ({"BRIDGE_MAX_MESSAGES": "11"}, "BRIDGE_MAX_MESSAGES"),
        ({"BRIDGE_MAX_MESSAGES": "0"}, "BRIDGE_MAX_MESSAGES"),
        ({"BRIDGE_POLLERS": "0"}, "BRIDGE_POLLERS"),
        ({"BRIDGE_PRODUCE_TIMEOUT": "0"}, "BRIDGE_PRODUCE_TIMEOUT"),
        ({"BRIDGE_VISIBILITY_TIMEOUT": "1"}, "BRIDGE_VISIBILITY_TIMEOUT=.* from 2 to 43200"),
        ({"BRIDGE_VISIBILITY_TIMEOUT": "43201"}, "BRIDGE_VISIBILITY_TIMEOUT"),
        ({"BRIDGE_VISIBILITY_TIMEOUT": "half a minute"}, "BRIDGE_VISIBILITY_TIMEOUT"),
        ({"BRIDGE_BACKOFF_CAP": "0.1", "BRIDGE_BACKOFF_INITIAL": "1"}, "BRIDGE_BACKOFF_CAP"),
        ({"BRIDGE_STATS_INTERVAL": "-1"}, "BRIDGE_STATS_INTERVAL"),
        (
            {"STREAMPROC_QUEUE_URL": "http://x/1/q", "STREAMPROC_QUEUE_NAME": "q"},
            "STREAMPROC_QUEUE_URL or STREAMPROC_QUEUE_NAME",
        ),
        ({"STREAMPROC_QUEUE_URL": "sqs://nope"}, "STREAMPROC_QUEUE_URL"),
        ({"STREAMPROC_DLQ_NAME": "has spaces"}, "STREAMPROC_DLQ_NAME"),
        ({"BRIDGE_CREATE_TOPICS": "maybe"}, "BRIDGE_CREATE_TOPICS"),
        ({"BRIDGE_LOG_LEVEL": "loud"}, "BRIDGE_LOG_LEVEL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        ({"STREAMPROC_TOPIC_PARTITIONS": "0"}, "STREAMPROC_TOPIC_PARTITIONS"),
    ],
)
def test_a_bad_value_fails_with_a_message_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load(env)


def test_repr_shows_no_secret() -> None:
    settings = load(
        {
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "user",
            "KAFKA_SASL_PASSWORD": "kafka-secret-value",
        }
    )
    text = repr(settings)
    assert "aws-secret-value" not in text
    assert "kafka-secret-value" not in text
    assert settings.aws.client_kwargs()["aws_secret_access_key"] == "aws-secret-value"


def test_settings_are_frozen() -> None:
    settings = load({})
    field = "wait_seconds"
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, field, 1)


def test_python_m_bridge_refuses_a_bad_setting_with_exit_2_and_names_it() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "BRIDGE_WAIT_SECONDS": "99"}
    done = subprocess.run([sys.executable, "-m", "bridge"], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "BRIDGE_WAIT_SECONDS='99' must be a whole number from 0 to 20" in done.stderr


def test_python_m_bridge_rejects_an_unknown_command() -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "fly"], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
