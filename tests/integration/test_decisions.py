"""Decisions on HELD files through the real commands, bridge and worker: a release publishes the held file's rows
once (its dead letters not again) and records who decided; a decline publishes nothing; deciding twice is refused.
A worker SIGKILLed while a file is HELD and again mid-release, then a replay of every group to earliest, end with
exact rows and a reconciled ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from devstack.deployment import Deployment, deployment
from devstack.stack import Endpoints
from streamproc.ingest.receipt import RECEIPT_DECODER, Receipt
from streamproc.shared.settings import KafkaConnection
from tests.integration.cli_support import cli, messages_on, wait_caught_up, wait_members
from tests.integration.test_controls import _claims
from tests.integration.test_faults import until_dead

EXTRA, OPERATOR = "tests.datasets.controlled_claims", "alice"


def _url(d: Deployment, key: str) -> str:
    return f"s3://{d.aws.bucket}/{key}"


async def _held(d: Deployment, key: str) -> dict[str, Any]:
    (row,) = await d.wait_finished([key], limit=180, statuses=("HELD",))
    return row


async def _finished(d: Deployment, key: str) -> dict[str, Any]:
    (row,) = await d.wait_finished([key], limit=180, statuses=("COMPLETED", "PARTIAL"))
    return row


async def _loaded(d: Deployment, key: str) -> tuple[Any, ...]:
    """Every row of the table (an md5 over them, and how many), and the file's counts in the ledger."""
    (table,) = await d.query(
        "SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS md5 FROM controlled_claims t"
    )
    (ledger,) = await d.query(
        "SELECT status, rows_read, rows_valid, rows_rejected, rows_loaded, rows_dead_lettered, attempts, finished_at "
        "FROM ingest_files WHERE key = %s",
        key,
    )
    return tuple(table.values()), tuple(ledger.values())


async def _receipt(d: Deployment, key: str, status: str) -> Receipt:
    """The file's receipt through `status --receipt`, once it says `status`."""
    deadline = time.monotonic() + 60
    while True:
        shown = await cli(d.env, "status", _url(d, key), "--receipt")
        if shown.returncode == 0 and (receipt := RECEIPT_DECODER.decode(shown.stdout)).status == status:
            return receipt
        if time.monotonic() > deadline:
            msg = f"no receipt saying {status} within 60 s: {shown.returncode} {shown.stdout} {shown.stderr}"
            raise AssertionError(msg)
        await asyncio.sleep(0.5)


@asynccontextmanager
async def _controlled(stack: Endpoints, unique: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A bridge and a worker with the controlled test dataset, its controls on and decisions made by OPERATOR."""
    async with deployment(
        stack,
        unique,
        tmp_path,
        STREAMPROC_EXTRA_DATASETS=EXTRA,
        STREAMPROC_OPERATOR=OPERATOR,
        STREAMPROC_CONTROLS="true",
    ) as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker")
        yield d


def _topics(unique: str) -> tuple[str, str]:
    return f"{unique}.claims.controlled", f"{unique}.ingest.deadletter"


async def test_a_release_loads_the_held_rows_once_and_a_decline_nothing_and_neither_is_done_twice(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    kafka = KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)
    rows_topic, letters_topic = _topics(unique)
    async with _controlled(stack, unique, tmp_path) as d:
        await d.upload("controlled_claims/released.csv", _claims(200, 0.4, seed=31))
        await d.upload("controlled_claims/declined.csv", _claims(150, 0.4, seed=32))
        first = await _held(d, "controlled_claims/released.csv")
        other = await _held(d, "controlled_claims/declined.csv")
        held_receipt = await _receipt(d, "controlled_claims/released.csv", "HELD")
        early = await cli(d.env, "decline", _url(d, "controlled_claims/nope.csv"), "--reason", "x")
        released = await cli(
            d.env, "release", _url(d, "controlled_claims/released.csv"), "--reason", "sender confirmed"
        )
        assert released.returncode == 0, released.stderr
        loaded = await _finished(d, "controlled_claims/released.csv")
        declined = await cli(d.env, "decline", _url(d, "controlled_claims/declined.csv"), "--reason", "resend asked")
        twice = await cli(d.env, "release", _url(d, "controlled_claims/released.csv"), "--reason", "again")
        after_decline = await cli(d.env, "release", _url(d, "controlled_claims/declined.csv"), "--reason", "oops")
        shown = await cli(d.env, "status", _url(d, "controlled_claims/released.csv"))
        (ended,) = await d.query("SELECT * FROM ingest_files WHERE key = %s", "controlled_claims/declined.csv")
        released_receipt = await _receipt(d, "controlled_claims/released.csv", "PARTIAL")
        declined_receipt = await _receipt(d, "controlled_claims/declined.csv", "DECLINED")
        sink = f"{d.env['STREAMPROC_APP_ID']}-sink-controlled_claims"
        await wait_caught_up(kafka, {sink: rows_topic})
        in_table = await d.count("controlled_claims")
        row_events, letters = await messages_on(kafka, rows_topic), await messages_on(kafka, letters_topic)
    assert (early.returncode, declined.returncode, twice.returncode, after_decline.returncode) == (1, 0, 1, 1)
    assert "the ledger has no" in early.stderr
    assert f"released {_url(d, 'controlled_claims/released.csv')}" in released.stdout
    assert "PARTIAL (released by alice" in twice.stderr
    assert "DECLINED (declined by alice" in after_decline.stderr
    assert (loaded["status"], loaded["rows_read"], loaded["rows_loaded"]) == ("PARTIAL", 200, first["rows_valid"])
    assert loaded["rows_rejected"] == first["rows_rejected"]
    assert loaded["decision"]["action"] == "release"
    assert (loaded["decision"]["by"], loaded["decision"]["reason"]) == ("alice", "sender confirmed")
    assert loaded["decision"]["failed"] == first["error_summary"]
    assert loaded["controls"] == first["controls"]  # what it was held for stays on record
    assert (ended["status"], ended["rows_loaded"], ended["decision"]["action"]) == ("DECLINED", 0, "decline")
    assert in_table == row_events == first["rows_valid"]  # each row of the released file once, none declined
    assert letters == first["rows_rejected"] + other["rows_rejected"]  # each published once, when held
    assert "released by alice at " in shown.stdout
    assert (held_receipt.rows_rejected, held_receipt.sha256) == (first["rows_rejected"], first["content_sha256"])
    assert [c.control for c in held_receipt.controls] == ["error budget (share of rows rejected)"]
    assert held_receipt.decision is None
    assert sum(c.rows for c in held_receipt.rejected_by_rule) >= first["rows_rejected"]
    assert released_receipt.decision is not None
    assert (released_receipt.decision.action, released_receipt.decision.by) == ("release", "alice")
    assert released_receipt.rows_loaded == first["rows_valid"]
    assert declined_receipt.decision is not None
    assert declined_receipt.decision.reason == "resend asked"
    assert "error budget (share of rows rejected) [hold]" in shown.stdout


@pytest.mark.slow
async def test_a_worker_killed_while_a_file_is_held_and_again_mid_release_then_a_replay_leave_exact_rows(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    kafka = KafkaConnection(bootstrap_servers=stack.kafka_bootstrap_servers)
    rows_topic, letters_topic = _topics(unique)
    key = "controlled_claims/crash.csv"
    async with _controlled(stack, unique, tmp_path) as d:
        sink = f"{d.env['STREAMPROC_APP_ID']}-sink-controlled_claims"
        await d.upload(key, _claims(3000, 0.3, seed=33))
        held = await _held(d, key)
        d.kill("worker")  # SIGKILL while the file is HELD
        d.start_worker("worker", STREAMPROC_FAULTS="split:100")  # dies once the release has handed 100 rows over
        await wait_members(kafka, [sink], present=True)
        again = await _held(d, key)
        released = await cli(d.env, "release", _url(d, key), "--reason", "checked by phone")
        assert released.returncode == 0, released.stderr
        await until_dead(d, "worker")  # the fault point, mid-release
        d.start_worker("worker")
        loaded = await _finished(d, key)
        await wait_caught_up(kafka, {sink: rows_topic})
        before = await _loaded(d, key)
        row_events = await messages_on(kafka, rows_topic)
        d.stop("worker")
        await wait_members(kafka, [sink, d.env["STREAMPROC_APP_ID"]], present=False)  # the sinks' and the fan-out's
        for group in ([], ["--group", d.env["STREAMPROC_APP_ID"]]):  # the sinks, then the fan-out's ingest.objects
            replayed = await cli(d.env, "replay", *group, "--to-earliest", "--execute")
            assert replayed.returncode == 0, replayed.stderr
        d.start_worker("worker")
        await wait_caught_up(kafka, {sink: rows_topic})
        after = await _loaded(d, key)
        (final,) = await d.query("SELECT * FROM ingest_files WHERE key = %s", key)
        in_table = await d.count("controlled_claims")
        letters, events_after = await messages_on(kafka, letters_topic), await messages_on(kafka, rows_topic)
    assert again["attempts"] == held["attempts"] == 1  # the restart neither resumed nor published the held file
    assert (loaded["status"], loaded["rows_loaded"], loaded["attempts"]) == ("PARTIAL", held["rows_valid"], 3)
    assert in_table == held["rows_valid"]
    assert row_events == events_after == held["rows_valid"]  # the resumed release sent no row twice; the replay none
    assert letters == held["rows_rejected"]
    assert after == before
    assert final["status"] == "PARTIAL"
    assert final["rows_read"] == final["rows_loaded"] + final["rows_dead_lettered"]
