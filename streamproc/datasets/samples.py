"""Realistic sample files for demos and benchmarks, with a configurable share of bad rows (pure)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

CLAIM_HEADER = (
    "claim_id", "member_id", "rx_number", "fill_date", "ndc", "drug_name", "quantity", "days_supply",
    "prescriber_npi", "pharmacy_npi", "ingredient_cost", "dispensing_fee", "copay", "total_paid", "claim_status",
)  # fmt: skip
AUDIT_HEADER = (
    "audit_id", "occurred_at", "actor_id", "action", "resource_type", "resource_id", "outcome", "source_ip", "details",
)  # fmt: skip
_DRUGS = ("Atorvastatin 20mg", "Metformin 500mg", "Lisinopril 10mg", "Amoxicillin, 500mg", 'Insulin "Glargine"')
_ACTIONS = ("CREATE", "READ", "UPDATE", "DELETE", "LOGIN", "LOGOUT", "EXPORT")


def npi(rng: random.Random) -> str:
    """A 10-digit NPI with a valid check digit (Luhn over 80840 + the first nine digits)."""
    body = f"{rng.randrange(100_000_000, 999_999_999)}"
    digits = [int(d) for d in "80840" + body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        doubled = d * 2 if i % 2 == 0 else d
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def _claim(rng: random.Random, n: int, prefix: str) -> list[str]:
    ingredient = rng.randrange(100, 50_000) / 100
    fee = rng.randrange(0, 500) / 100
    copay = min(rng.randrange(0, 2_000) / 100, ingredient)  # a paid claim never pays out less than zero
    fill = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 300))
    return [
        f"{prefix}-{n:08d}", f"M{rng.randrange(10**7):07d}", f"RX{rng.randrange(10**8):08d}",
        fill.isoformat() if n % 2 else fill.strftime("%Y%m%d"),
        f"{rng.randrange(10**5):05d}-{rng.randrange(10**4):04d}-{rng.randrange(100):02d}",
        rng.choice(_DRUGS), f"{rng.randrange(1, 180)}.{rng.randrange(1000):03d}", str(rng.randrange(1, 91)),
        npi(rng), npi(rng), f"{ingredient:.2f}", f"{fee:.2f}", f"{copay:.2f}",
        f"{ingredient + fee - copay:.2f}", rng.choice(("PAID", "paid", "REJECTED")),
    ]  # fmt: skip


def _audit(rng: random.Random, n: int, prefix: str) -> list[str]:
    when = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 10**7))
    return [
        f"{prefix}-{n:08d}", when.isoformat().replace("+00:00", "Z"), f"user{rng.randrange(500)}",
        rng.choice(_ACTIONS), rng.choice(("Claim", "Member", "Report")), f"R{rng.randrange(10**6)}",
        rng.choice(("SUCCESS", "failure")), rng.choice(("10.0.0.7", "2001:db8::1", "")), "routine access",
    ]  # fmt: skip


# Ways to break a row, by column: each violates exactly one rule of DATA_CONTRACT.md.
_CLAIM_BREAKS = {"prescriber_npi": "1234567890", "ndc": "1234567890", "days_supply": "400", "quantity": "-1"}
_AUDIT_BREAKS = {"occurred_at": "2026-03-01T10:00:00", "action": "HACK", "source_ip": "999.1.1.1"}


def rows(dataset: str, count: int, bad_share: float, seed: int = 7, prefix: str = "C") -> Iterator[list[str]]:
    """`count` data rows; about `bad_share` of them break one rule each (deterministic for a seed)."""
    for row, _broken in marked_rows(dataset, count, bad_share, seed, prefix):
        yield row


def marked_rows(
    dataset: str, count: int, bad_share: float, seed: int = 7, prefix: str = "C"
) -> Iterator[tuple[list[str], bool]]:
    """As `rows`, each with whether it was broken on purpose (what a benchmark expects to be rejected)."""
    rng = random.Random(seed)
    header, make, breaks = (
        (CLAIM_HEADER, _claim, _CLAIM_BREAKS) if dataset == "pharmacy_claims" else (AUDIT_HEADER, _audit, _AUDIT_BREAKS)
    )
    for n in range(count):
        row = make(rng, n, prefix)
        broken = rng.random() < bad_share
        if broken:
            column, value = rng.choice(sorted(breaks.items()))
            row[header.index(column)] = value
        yield row, broken


def header(dataset: str) -> tuple[str, ...]:
    return CLAIM_HEADER if dataset == "pharmacy_claims" else AUDIT_HEADER


def csv_bytes(dataset: str, count: int, bad_share: float = 0.0, seed: int = 7, prefix: str = "C") -> bytes:
    """A whole CSV file (header + rows) as bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CLAIM_HEADER if dataset == "pharmacy_claims" else AUDIT_HEADER)
    writer.writerows(rows(dataset, count, bad_share, seed, prefix))
    return out.getvalue().encode()
