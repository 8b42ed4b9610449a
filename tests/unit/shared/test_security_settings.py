"""Settings never show a secret: the repr (and str, and the bridge's start-up log line, which uses it) of every
settings object hides the SASL password, the AWS secret key and a password in DATABASE_URL."""

from __future__ import annotations

import pytest

from bridge.settings import BridgeSettings
from bridge.settings import load as load_bridge
from streamproc.shared.settings import AwsSettings, KafkaConnection
from streamproc.worker.settings import WorkerSettings

SASL_PASSWORD = "sasl-Pa55word-0001"
AWS_SECRET = "aws-SecretKey-0002/+xyz"
DB_PASSWORD = "db-Pa55word-0003"
SECRETS = (SASL_PASSWORD, AWS_SECRET, DB_PASSWORD)

ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9096,broker-2:9096",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "streamproc",
    "KAFKA_SASL_PASSWORD": SASL_PASSWORD,
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "DATABASE_URL": f"postgresql://streamproc:{DB_PASSWORD}@db.internal:5432/streamproc",
}


def shown(obj: object) -> str:
    return f"{obj!r} {obj!s} {obj}"


def test_every_settings_object_built_from_the_environment_hides_its_secrets() -> None:
    objects = {
        "WorkerSettings": WorkerSettings.from_env(ENV),
        "BridgeSettings": load_bridge(ENV),
        "KafkaConnection": KafkaConnection.from_env(ENV),
        "AwsSettings": AwsSettings.from_env(ENV),
    }
    for name, obj in objects.items():
        text = shown(obj)
        assert not [s for s in SECRETS if s in text], f"{name} shows a secret: {text}"
    worker = shown(objects["WorkerSettings"])
    assert "postgresql://streamproc:***@db.internal:5432/streamproc" in worker  # where it points, not the password
    assert "broker-1:9096" in worker and "AKIAEXAMPLE" in worker  # the rest stays readable


def test_the_secrets_are_still_there_for_the_clients() -> None:
    worker = WorkerSettings.from_env(ENV)
    assert worker.kafka.client_kwargs()["sasl_plain_password"] == SASL_PASSWORD
    assert worker.aws.client_kwargs()["aws_secret_access_key"] == AWS_SECRET
    assert DB_PASSWORD in worker.database_url


def test_settings_made_in_code_hide_secrets_too() -> None:
    kafka = KafkaConnection(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password=SASL_PASSWORD)
    aws = AwsSettings(access_key_id="AKIAEXAMPLE", secret_access_key=AWS_SECRET)
    for obj in (kafka, aws, BridgeSettings(kafka=kafka, aws=aws), WorkerSettings(kafka=kafka, aws=aws)):
        assert not [s for s in SECRETS if s in shown(obj)]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql://streamproc:{DB_PASSWORD}@db.internal/streamproc", id="userinfo"),
        pytest.param(f"postgres://streamproc:{DB_PASSWORD}@db.internal:5432/db?sslmode=require", id="and-a-query"),
        pytest.param(f"postgresql://streamproc:{DB_PASSWORD}@[2001:db8::1]:5432/streamproc", id="ipv6-host"),
        pytest.param(
            f"postgresql://streamproc@db.internal/streamproc?password={DB_PASSWORD}", id="password-query-parameter"
        ),
    ],
)
def test_a_password_in_any_libpq_url_form_is_hidden(url: str) -> None:
    text = shown(WorkerSettings.from_env({"DATABASE_URL": url}))
    assert DB_PASSWORD not in text
    assert "db.internal" in text or "2001:db8::1" in text
