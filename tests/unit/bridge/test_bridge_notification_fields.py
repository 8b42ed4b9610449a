"""Fields the bridge takes from a notification that would mislead the worker: refused or normalised, pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bridge.messages import encode
from bridge.notifications import decode_body
from streamproc.contract.events import OBJECT_EVENT_DECODER


def body(event_time: str = "2026-01-02T03:04:05.678Z", key: str = "claims.csv", **obj: Any) -> str:
    record: dict[str, Any] = {
        "eventName": "ObjectCreated:Put",
        "eventTime": event_time,
        "s3": {"bucket": {"name": "drop"}, "object": {"key": key, **obj}},
    }
    return json.dumps(
        {
            "Records": [
                record,
                {**record, "eventTime": "2026-01-02T03:04:05Z", "s3": {**record["s3"], "object": {"key": "ok.csv"}}},
            ]
        }
    )


@pytest.mark.parametrize("naive", ["2026-01-02T03:04:05.678", "2026-01-02T03:04:05", "2026-01-02 03:04:05"])
def test_an_event_time_without_a_utc_offset_is_dead_lettered_never_put_on_kafka(naive: str) -> None:
    decoded = decode_body(body(event_time=naive))
    assert [e.key for e in decoded.events] == ["ok.csv"]  # the good record of the message still goes
    assert len(decoded.failures) == 1
    assert decoded.failures[0].reason == "record 0: eventTime has no UTC offset"
    assert decoded.failures[0].error_class == "InvalidRecord"


def test_an_event_time_with_an_offset_other_than_z_is_kept_aware_and_round_trips() -> None:
    (event, _) = decode_body(body(event_time="2026-01-02T05:04:05+02:00")).events
    assert event.event_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.event_time.utcoffset() == timedelta(hours=2)
    assert event.event_time.tzinfo == timezone(timedelta(hours=2))
    assert OBJECT_EVENT_DECODER.decode(encode(event)).event_time == event.event_time


def test_a_negative_size_is_dead_lettered() -> None:
    decoded = decode_body(body(size=-1))
    assert [f.reason for f in decoded.failures] == ["record 0: size is negative (-1)"]
    assert [e.key for e in decoded.events] == ["ok.csv"]


def test_a_zero_size_is_an_empty_file_not_an_error() -> None:
    assert decode_body(body(size=0)).events[0].size == 0


@pytest.mark.parametrize("field", ["versionId", "sequencer", "eTag"])
@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_version_id_sequencer_or_etag_is_absent_not_an_empty_string(field: str, blank: str) -> None:
    (event, _) = decode_body(body(**{field: blank})).events
    assert (event.version_id, event.sequencer, event.etag) == (None, None, None)


def test_an_etag_in_quotes_loses_them_so_one_version_has_one_name() -> None:
    quoted, plain = (decode_body(body(eTag=tag)).events[0] for tag in ('"0123abcd"', "0123abcd"))
    assert quoted.etag == plain.etag == "0123abcd"
    assert quoted.version == plain.version


def test_a_version_id_wins_over_the_etag_and_is_kept_verbatim() -> None:
    (event, _) = decode_body(
        body(eTag="0123abcd", versionId="3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", sequencer="0A1B")
    ).events
    assert (event.version, event.sequencer) == ("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "0A1B")


@pytest.mark.parametrize("encoded", ["%C3", "bad%FFkey.csv", "%E2%82"])
def test_a_key_whose_form_encoding_is_not_utf8_is_dead_lettered_not_guessed(encoded: str) -> None:
    decoded = decode_body(body(key=encoded))
    assert [f.reason for f in decoded.failures] == ["record 0: key is not form-encoded UTF-8"]


def test_a_key_that_decodes_to_nothing_is_dead_lettered() -> None:
    assert [f.reason for f in decode_body(body(key="")).failures] == ["record 0: key is empty"]


def test_a_percent_that_is_not_an_escape_stays_literal_as_s3_would_have_encoded_it() -> None:
    # S3 encodes a literal "%" as %25; a stray "%zz" is kept as written, never dropped or altered
    assert decode_body(body(key="100%zz+done.csv")).events[0].key == "100%zz done.csv"
