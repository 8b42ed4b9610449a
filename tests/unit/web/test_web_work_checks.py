"""The health view's checks of the pipeline's own work: a sink failing too long, files nothing works on."""

from __future__ import annotations

from datetime import UTC, datetime

from streamproc.web.api import health_json
from streamproc.web.health import FILES, SINKS, Check, SinkState, files_check, sinks_check

NOW = 1_800_000_000.0


def _sink(name: str, failing_for: float | None, error: str | None = None, restarts: int = 0) -> SinkState:
    since = None if failing_for is None else NOW - failing_for
    return SinkState(dataset=name, failing_since=since, last_error=error, restarts=restarts)


def test_a_sink_failing_longer_than_the_limit_needs_attention_with_its_reason() -> None:
    sinks = [
        _sink("pharmacy_claims", 400, "DatabaseUnavailable: database unavailable: UndefinedTable (SQLSTATE 42P01)", 3),
        _sink("audit_records", None),
    ]
    c = sinks_check(sinks, now=NOW, after=300)
    assert (c.name, c.ok, c.critical) == (SINKS, False, False)
    assert c.reason == (
        "sink pharmacy_claims: failing for 400 s, 3 restarts: "
        "DatabaseUnavailable: database unavailable: UndefinedTable (SQLSTATE 42P01)"
    )


def test_a_short_failure_is_a_blip_not_a_problem() -> None:
    c = sinks_check([_sink("pharmacy_claims", 20, "DatabaseUnavailable")], now=NOW, after=300)
    assert (c.ok, c.reason) == (True, None)


def test_stalled_files_are_named_up_to_five_and_counted() -> None:
    stalled = [{"id": n, "status": "PROCESSING"} for n in range(1, 8)]
    c = files_check(stalled, after=300, now=NOW)
    assert (c.name, c.ok, c.critical) == (FILES, False, False)
    assert c.reason is not None
    assert c.reason.startswith("7 file(s) unfinished with no progress for over 300 s: #1 (PROCESSING), #2")
    assert "#5 (PROCESSING) and 2 more" in c.reason
    assert "#6" not in c.reason
    assert files_check([], after=300, now=NOW).ok


def _check(name: str, *, ok: bool, critical: bool = True) -> Check:
    return Check(name=name, ok=ok, reason=None if ok else "why", checked_at=datetime.now(UTC), critical=critical)


def test_health_is_degraded_when_only_non_critical_checks_fail_and_unhealthy_when_a_service_does() -> None:
    services = [_check("kafka", ok=True), _check("postgres", ok=True)]
    assert health_json([*services, _check(SINKS, ok=True, critical=False)])["status"] == "ok"
    assert health_json([*services, _check(SINKS, ok=False, critical=False)])["status"] == "degraded"
    down = [_check("kafka", ok=False), _check("postgres", ok=True), _check(FILES, ok=False, critical=False)]
    body = health_json(down)
    assert body["status"] == "unhealthy"
    assert body["checks"][FILES] == {
        "ok": False,
        "reason": "why",
        "checked_at": body["checks"][FILES]["checked_at"],
        "critical": False,
    }
