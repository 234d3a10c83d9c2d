"""The console report's exact time-to-honour figures from sorted runs (property tests)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from prefcenter.report.compliance import honour_times as from_all
from prefcenter.report.trends import honour_times, kth_smallest

runs = st.lists(st.integers(min_value=0, max_value=10**10), max_size=60).map(sorted)


@given(runs, runs, st.data())
def test_the_kth_of_two_sorted_runs_is_the_kth_of_both(
    a: list[int], b: list[int], data: st.DataObject
) -> None:
    if not a and not b:
        return
    k = data.draw(st.integers(min_value=1, max_value=len(a) + len(b)))
    assert kth_smallest(a, b, k) == sorted(a + b)[k - 1]


@given(runs, runs)
def test_median_p95_and_max_are_the_reports_own(a: list[int], b: list[int]) -> None:
    expected = from_all(timedelta(milliseconds=ms) for ms in a + b)
    assert honour_times(a, b) == expected
