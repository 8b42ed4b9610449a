"""Generated claim files: many rows in, every row accounted for. Run as a module to measure parse+validate rows/s.

.venv/bin/python -m tests.unit.ingest.test_parsing_volume 200000
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from streamproc.datasets.registry import load_registry
from streamproc.ingest.parsing import CsvFileParser, RejectedRow, ValidRow

CLAIM_COLUMNS = [
    *("claim_id", "member_id", "rx_number", "fill_date", "ndc", "drug_name", "quantity", "days_supply"),
    *("prescriber_npi", "pharmacy_npi", "ingredient_cost", "dispensing_fee", "copay", "total_paid", "claim_status"),
]
CHUNK = 64 * 1024
STATUSES = ("PAID", "paid", "Reversed", "REJECTED")


def good_claim(i: int = 0, **overrides: str) -> dict[str, str]:
    """One valid claim row as CSV text values."""
    row = {
        "claim_id": f"CLM-{i:08d}",
        "member_id": f"MBR{i:06d}",
        "rx_number": f"RX{i}",
        "fill_date": "2024-03-01",
        "ndc": "12345-6789-01",
        "drug_name": "Amoxicillin, 500mg",
        "quantity": "30.5",
        "days_supply": "30",
        "prescriber_npi": "1234567893",
        "pharmacy_npi": "1245319599",
        "ingredient_cost": "10.00",
        "dispensing_fee": "1.50",
        "copay": "0",
        "total_paid": "11.50",
        "claim_status": "PAID",
    }
    return row | overrides


def valid_npi(n: int) -> str:
    """The n-th of a family of valid NPIs: 9 digits plus their Luhn check digit over 80840."""
    body = f"{(100_000_000 + n * 7_919) % 10**9:09d}"
    digits = [int(c) for c in "80840" + body]
    total = sum(sum(divmod(d * 2, 10)) if i % 2 == 0 else d for i, d in enumerate(reversed(digits)))
    return body + str(-total % 10)


def _mix(i: int, salt: int) -> int:
    """A fixed, well-spread number for row i (the same on every run, unlike a seeded random generator)."""
    return (i * 2_654_435_761 + salt * 40_503) % 2**32 ^ (salt * 2_246_822_519 % 2**32)


PRESCRIBERS = [valid_npi(n) for n in range(2_000)]
PHARMACIES = [valid_npi(n) for n in range(10_000, 10_050)]
NDCS = [f"{_mix(n, 1) % 10**5:05d}-{_mix(n, 2) % 10**4:04d}-{n % 100:02d}" for n in range(3_000)]


def claims_csv(n: int, *, bad_every: int = 0, newline: str = "\r\n") -> bytes:
    """A claims file of n rows (2,000 prescribers, 50 pharmacies, 3,000 NDCs); every bad_every-th row has a
    bad NPI check digit."""
    lines = [",".join(CLAIM_COLUMNS)]
    for i in range(n):
        m = [_mix(i, salt) for salt in range(8)]
        npi = "1234567890" if bad_every and i % bad_every == bad_every - 1 else PRESCRIBERS[m[0] % 2_000]
        lines.append(
            f"CLM-{i:08d},MBR{m[1] % 10**6:06d},RX{m[2] % 10**7},2024-{m[3] % 12 + 1:02d}-{m[4] % 28 + 1:02d},"
            f'{NDCS[m[5] % 3_000]},"Amoxicillin, {250 * (m[6] % 2 + 1)}mg",{m[7] % 89 + 1}.{m[1] % 1000:03d},'
            f"{m[2] % 90 + 1},{npi},{PHARMACIES[m[3] % 50]},{m[4] % 10000}.{m[5] % 100:02d},1.50,"
            f"{m[6] % 50}.00,{m[7] % 10000}.{m[0] % 100:02d},{STATUSES[m[0] % 4]}"
        )
    return (newline.join(lines) + newline).encode()


def parse_all(data: bytes, key: str = "pharmacy_claims/generated.csv") -> tuple[CsvFileParser, int, int]:
    """Feed data in 64 KiB chunks, keeping only counts, as the fan-out stage does."""
    parser = CsvFileParser(load_registry(), key, gzip=False)
    valid = rejected = 0
    for start in range(0, len(data), CHUNK):
        for item in parser.feed(data[start : start + CHUNK]):
            valid += isinstance(item, ValidRow)
            rejected += isinstance(item, RejectedRow)
    for item in parser.close():
        valid += isinstance(item, ValidRow)
        rejected += isinstance(item, RejectedRow)
    return parser, valid, rejected


def test_every_generated_row_is_either_valid_or_rejected_and_the_counts_agree() -> None:
    parser, valid, rejected = parse_all(claims_csv(20_000, bad_every=1000))
    assert (parser.rows_read, parser.rows_valid, parser.rows_rejected) == (20_000, 19_980, 20)
    assert (valid, rejected) == (19_980, 20)


def test_memory_does_not_grow_with_the_number_of_rows() -> None:
    small, large = claims_csv(2_000), claims_csv(40_000)
    peaks = []
    for data in (small, large):
        tracemalloc.start()
        parse_all(data)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 20x the rows, about the same peak: a few chunks' worth, not the file.
    assert peaks[1] < 2 * peaks[0] + 512 * 1024, peaks


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 200_000
    data = claims_csv(rows)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        parser, valid, _ = parse_all(data)
        best = min(best, time.perf_counter() - started)
    assert valid == rows == parser.rows_valid
    sys.stdout.write(
        f"{rows} claim rows ({len(data) / 1e6:.1f} MB) parsed and validated in {best:.2f} s "
        f"(best of 3, 64 KiB chunks): {rows / best:,.0f} rows/s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
