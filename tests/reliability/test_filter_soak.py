"""``make soak``: a generated 600 MB list of unique people through ``prefcenter filter``.

Past a million people the duplicate detector spills to disk, so peak memory stays
under a fixed ceiling however long the list is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.test_hostile_filter import run_measured, write_list


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_huge_list_with_unique_people_stays_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.csv"
    rows = write_list(huge, 600_000_000, None)
    summary, rss = run_measured(huge, tmp_path)
    with capsys.disabled():
        print(f"\nfilter: {rows} rows, {huge.stat().st_size >> 20} MB, peak RSS {rss >> 10} MB")
    assert (tmp_path / "huge.sendable.csv").stat().st_size > 0
    assert rss < 450_000, summary  # the duplicate detector spills to disk past 1M people
