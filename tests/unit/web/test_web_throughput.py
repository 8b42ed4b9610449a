"""Throughput over the last minute from cumulative counters, and the sink histograms' Prometheus shape (pure)."""

from __future__ import annotations

import pytest

from streamproc.shared.histogram import BATCH_ROWS_BUCKETS, Histogram
from streamproc.web.throughput import Throughput


def test_a_rate_is_the_counter_difference_over_the_time_between_the_oldest_and_newest_sample() -> None:
    t = Throughput(window=60.0)
    assert t.rate("rows") == 0.0
    t.sample(0.0, {"rows": 0})
    t.sample(1.0, {"rows": 100})
    t.sample(2.0, {"rows": 400})
    assert t.rate("rows") == pytest.approx(200.0)
    assert t.series("rows") == pytest.approx([100.0, 300.0])
    assert t.rate("unknown") == 0.0


def test_samples_older_than_the_window_are_dropped_but_the_rate_still_spans_the_whole_window() -> None:
    t = Throughput(window=60.0)
    for second in range(0, 181):
        t.sample(float(second), {"rows": second * 10})
    assert t.rate("rows") == pytest.approx(10.0)
    assert 59 <= len(t.series("rows")) <= 61
    t.sample(181.0, {"rows": 1810 + 600})  # a burst in the last second
    assert t.rate("rows") == pytest.approx((2410 - 1210) / 60)


def test_a_counter_that_restarted_never_gives_a_negative_rate() -> None:
    t = Throughput()
    t.sample(0.0, {"rows": 500})
    t.sample(1.0, {"rows": 0})
    assert t.rate("rows") == 0.0
    assert t.series("rows") == [0.0]


def test_a_histogram_counts_values_into_inclusive_upper_bounds_and_exposes_cumulative_buckets() -> None:
    h = Histogram((1.0, 10.0))
    for value in (0.5, 1.0, 3.0, 10.0, 11.0):
        h.observe(value)
    assert h.cumulative() == [("1.0", 2), ("10.0", 4), ("+Inf", 5)]
    assert (h.count, h.total) == (5, 25.5)


def test_the_sink_batch_histogram_has_room_for_the_largest_batch() -> None:
    h = Histogram(BATCH_ROWS_BUCKETS)
    h.observe(5000)
    assert dict(h.cumulative())["5000.0"] == 1
