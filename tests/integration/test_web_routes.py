"""Every route of the worker's web server and the bridge's, against a real worker and bridge on the local stack."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.integration.web_support import WebDeployment, eventually, web_deployment


@pytest.fixture(scope="module")
async def site(stack: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebDeployment]:
    """One worker and one bridge for this module's tests; each test ingests files of its own."""
    unique = uuid.uuid4().hex[:10]
    async with web_deployment(stack, unique, tmp_path_factory.mktemp("web-routes")) as d:
        d.start("bridge")
        d.start("worker")
        await d.wait_web()
        yield d


def files_section(html: str) -> str:
    """The dashboard's "Latest files" section alone (the reasons below it name files too)."""
    return html.split('<section id="files">', 1)[1].split("</section>", 1)[0]


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer, parsed by prometheus_client's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_faust_serves_its_own_stats_views_and_not_its_table_or_router_views(site: WebDeployment) -> None:
    index = await site.get("/")
    assert index.status == 200
    assert "Sensor0" in index.json()  # the monitor's statistics, not the production index's {"status": "OK"}
    assert (await site.get("/assignment/")).status == 200
    assert (await site.get("/table/")).status == 404
    assert (await site.get("/router/")).status == 404
    assert (await site.get("/pipeline")).headers["Location"] == "/pipeline/"


async def test_a_partial_file_is_on_the_dashboard_on_its_own_page_and_in_the_api(site: WebDeployment) -> None:
    key = f"pharmacy_claims/routes-{uuid.uuid4().hex[:6]}.csv"
    await site.upload(key, samples.csv_bytes("pharmacy_claims", 400, 0.05, seed=41, prefix="R"))
    row = await site.finished(key)
    assert (row["status"], row["rows_read"], row["reconciled"]) == ("PARTIAL", 400, True)
    assert row["rows_loaded"] + row["rows_dead_lettered"] == 400
    assert 0 < row["rows_dead_lettered"] < 60

    dashboard = await site.get("/pipeline/")
    assert dashboard.status == 200
    assert dashboard.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in dashboard.headers["Content-Security-Policy"]
    assert '<meta http-equiv="refresh" content="5">' in dashboard.text
    assert key in dashboard.text
    assert key in files_section((await site.get("/pipeline/?status=PARTIAL&dataset=pharmacy_claims")).text)
    assert key not in files_section((await site.get("/pipeline/?status=FAILED")).text)

    detail = (await site.get(f"/api/files/{row['id']}/")).json()
    assert detail["key"] == key
    assert len(detail["rejects"]) == row["rows_dead_lettered"]
    first = detail["rejects"][0]
    assert set(first) == {"line", "stage", "error_class", "errors", "recorded_at"}
    assert {frozenset(e) for e in first["errors"]} == {frozenset({"field", "rule", "message"})}

    page = await site.get(f"/pipeline/files/{row['id']}/")
    assert page.status == 200
    for reject in detail["rejects"]:
        assert f'<td class="num">{reject["line"]:,}</td>' in page.text
        assert all(e["rule"] in page.text and e["field"] in page.text for e in reject["errors"])


async def test_the_files_api_filters_pages_and_refuses_bad_parameters(site: WebDeployment) -> None:
    keys = [f"audit_records/page-{uuid.uuid4().hex[:6]}-{n}.csv" for n in range(3)]
    for n, key in enumerate(keys):
        await site.upload(key, samples.csv_bytes("audit_records", 20, 0.0, seed=50 + n, prefix=f"P{n}"))
    for key in keys:
        assert (await site.finished(key))["status"] == "COMPLETED"
    bucket = quote(site.aws.bucket)
    everything = (await site.get(f"/api/files/?bucket={bucket}&dataset=audit_records&status=completed")).json()
    assert {f["key"] for f in everything["files"]} >= set(keys)
    first = (await site.get("/api/files/?dataset=audit_records&limit=1&offset=0")).json()
    second = (await site.get("/api/files/?dataset=audit_records&limit=1&offset=1")).json()
    assert (len(first["files"]), len(second["files"]), first["total"]) == (1, 1, everything["total"])
    assert first["files"][0]["id"] != second["files"][0]["id"]
    for bad in ("limit=0", "offset=-1", "status=BOGUS", "dataset=nope", "limit=x"):
        answer = await site.get(f"/api/files/?{bad}")
        assert answer.status == 400, bad
        assert "error" in answer.json()
    for bad in ("/pipeline/?limit=0", "/pipeline/?status=BOGUS", "/pipeline/files/1/?offset=-1"):
        page = await site.get(bad)
        assert (page.status, "bad request" in page.text) == (400, True), bad
    for bad in ("/api/deadletters/?limit=0", "/api/deadletters/?file=x"):
        answer = await site.get(bad)
        assert (answer.status, "error" in answer.json()) == (400, True), bad
    assert (await site.get("/api/files/99999999/")).status == 404
    assert (await site.get("/pipeline/files/not-a-number/")).status == 404


async def test_dead_letter_reasons_are_listed_without_any_value(site: WebDeployment) -> None:
    key = f"pharmacy_claims/reasons-{uuid.uuid4().hex[:6]}.csv"
    data = list(samples.rows("pharmacy_claims", 200, 0.1, seed=43, prefix="D"))
    await site.upload(key, samples.csv_bytes("pharmacy_claims", 200, 0.1, seed=43, prefix="D"))
    row = await site.finished(key)
    answer = await site.get(f"/api/deadletters/?file={row['id']}")
    assert answer.headers["Content-Type"].startswith("application/json")
    letters = answer.json()["deadletters"]
    assert len(letters) == row["rows_dead_lettered"] > 0
    assert all(letter["file_id"] == row["id"] for letter in letters)
    recent = (await site.get("/api/deadletters/?limit=1000")).json()["deadletters"]
    assert {(x["file_id"], x["line"]) for x in letters} <= {(x["file_id"], x["line"]) for x in recent}
    member_ids = {r[samples.CLAIM_HEADER.index("member_id")] for r in data}
    dashboard = (await site.get("/pipeline/")).text
    assert not any(member in answer.text or member in dashboard for member in member_ids)


async def test_lag_is_listed_per_partition_for_the_fan_out_group_and_each_sink_group(site: WebDeployment) -> None:
    key = f"pharmacy_claims/lag-{uuid.uuid4().hex[:6]}.csv"
    await site.upload(key, samples.csv_bytes("pharmacy_claims", 300, 0.0, seed=44, prefix="L"))
    await site.finished(key)
    app_id = site.env["STREAMPROC_APP_ID"]

    async def drained() -> dict[str, Any] | None:
        lag = (await site.get("/api/lag/")).json()
        groups = {g["group"]: g for g in lag["groups"]}
        wanted = {app_id, f"{app_id}-sink-pharmacy_claims", f"{app_id}-sink-audit_records"}
        done = set(groups) == wanted and all(g["lag"] == 0 for g in groups.values())
        return groups if done else None

    groups = await eventually("every group listed and drained", drained)
    assert groups[app_id]["role"] == "fan-out"
    assert groups[app_id]["partitions"][0]["topic"] == f"{site.unique}.ingest.objects"
    claims = groups[f"{app_id}-sink-pharmacy_claims"]
    assert [p["partition"] for p in claims["partitions"]] == [0, 1, 2]
    assert sum(p["log_end"] for p in claims["partitions"]) >= 300
    assert all(p["committed"] == p["log_end"] for p in claims["partitions"] if p["log_end"])


async def test_health_is_200_and_the_dashboard_shows_every_service_healthy(site: WebDeployment) -> None:
    health = await site.get("/healthz/")
    assert health.status == 200
    assert health.json()["checks"]["kafka"]["ok"] and health.json()["checks"]["postgres"]["ok"]

    async def all_healthy() -> str | None:
        text = (await site.get("/pipeline/")).text
        ok = all(f'<div class="check ok" data-check="{name}">' in text for name in ("kafka", "postgres", "s3", "sqs"))
        return text if ok else None

    await eventually("Kafka, PostgreSQL, S3 and SQS healthy on the dashboard", all_healthy)


async def test_the_bridge_serves_its_health_and_metrics(site: WebDeployment) -> None:
    health = await site.get("/healthz", base=site.bridge_url)
    assert health.status == 200
    assert health.json()["checks"] == {"sqs": {"ok": True, "reason": None}, "kafka": {"ok": True, "reason": None}}
    key = f"audit_records/bridge-{uuid.uuid4().hex[:6]}.csv"
    await site.upload(key, samples.csv_bytes("audit_records", 5, 0.0, seed=45))
    await site.finished(key)
    values = metric_values((await site.get("/metrics", base=site.bridge_url)).text)
    assert values[("bridge_relay_produced_total", ())] >= 1
    assert values[("bridge_relay_deleted_total", ())] >= values[("bridge_relay_produced_total", ())]
    assert values[("bridge_relay_kafka_paused", ())] == 0
    assert ("bridge_mirror_sent_total", ()) in values
    assert ("bridge_relay_errors_total", ()) in values


async def test_a_hostile_key_header_and_cell_render_as_text_in_html_and_exactly_in_json(site: WebDeployment) -> None:
    key = f"pharmacy_claims/<script>alert(1)</script><img src=x onerror=alert(2)>-{uuid.uuid4().hex[:6]}.csv"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*samples.CLAIM_HEADER, "<b onmouseover=alert(3)>extra</b>"])
    rows = list(samples.rows("pharmacy_claims", 5, 0.0, seed=46, prefix="X"))
    rows[0][0] = "<script>alert(4)</script>"  # breaks the claim_id rule: the row is dead-lettered
    writer.writerows([*r, "<i>cell</i>"] for r in rows)
    await site.upload(key, out.getvalue().encode())
    row = await site.finished(key)
    assert row["key"] == key  # JSON keeps the key exactly
    assert (row["status"], row["rows_dead_lettered"], row["unknown_columns"]) == ("PARTIAL", 1, 1)

    for path in ("/pipeline/", f"/pipeline/files/{row['id']}/", "/pipeline/?status=PARTIAL"):
        text = (await site.get(path)).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b onmouseover" not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in text, path
    detail = await site.get(f"/api/files/{row['id']}/")
    assert detail.json()["key"] == key
    assert "alert(4)" not in detail.text and "<i>cell</i>" not in detail.text  # reasons, never values
    assert detail.headers["X-Content-Type-Options"] == "nosniff"


async def test_metrics_parse_with_prometheus_clients_parser_and_match_the_ledger(site: WebDeployment) -> None:
    tag = uuid.uuid4().hex[:6]
    files = {
        f"pharmacy_claims/metrics-{tag}.csv": samples.csv_bytes("pharmacy_claims", 1500, 0.02, seed=47, prefix="M"),
        f"audit_records/metrics-{tag}.csv": samples.csv_bytes("audit_records", 700, 0.0, seed=48, prefix="N"),
        f"misc/metrics-{tag}.csv": b"colour,size\nred,9\n",
    }
    for key, body in files.items():
        await site.upload(key, body)
    for key in files:
        await site.finished(key)
    ledger = await site.ledger_totals()

    async def agreeing() -> dict[Any, float] | None:
        values = metric_values((await site.get("/metrics")).text)
        return values if expected_metrics(ledger).items() <= values.items() else None

    values = await eventually("/metrics agreeing with the ledger", agreeing)
    for dataset in ("pharmacy_claims", "audit_records"):
        labels = (("dataset", dataset),)
        batches = values[("streamproc_sink_batch_rows_count", labels)]
        assert batches >= 1
        assert values[("streamproc_sink_batch_rows_sum", labels)] == ledger["loaded"][dataset]
        assert values[("streamproc_sink_write_seconds_count", labels)] == batches
        assert values[("streamproc_sink_batch_rows_bucket", (*labels, ("le", "+Inf")))] == batches
    lag = {k: v for k, v in values.items() if k[0] == "streamproc_consumer_lag"}
    assert len(lag) == 9  # three groups, three partitions each


def expected_metrics(ledger: dict[str, dict[str, int]]) -> dict[Any, float]:
    out: dict[Any, float] = {("streamproc_s3_read_bytes_total", ()): ledger["bytes"][""]}
    for status, n in ledger["files"].items():
        out[("streamproc_files", (("status", status),))] = n
    for dataset in ("pharmacy_claims", "audit_records"):
        labels = (("dataset", dataset),)
        out[("streamproc_rows_produced_total", labels)] = ledger["valid"][dataset]
        out[("streamproc_rows_loaded_total", labels)] = ledger["loaded"][dataset]
        out[("streamproc_rows_dead_lettered_total", (*labels, ("stage", "split")))] = ledger["rejected"][dataset]
        out[("streamproc_rows_dead_lettered_total", (*labels, ("stage", "sink")))] = ledger["sink_rejected"][dataset]
    return out
