"""A huge list in ``prefcenter filter``: streamed, so memory does not grow with the file.

The fast case filters a 1 MB and a 12 MB list and compares the peak RSS of the two
processes; ``tests/reliability/test_filter_soak.py`` filters a generated 600 MB list
under ``make soak``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prefcenter.center import PreferenceCenter
from prefcenter.config import load_settings
from tests.reliability.server import server_values

PEOPLE_IN_SMALL_FILES = 2000


def write_list(path: Path, size: int, people: int | None) -> int:
    """A CSV of about ``size`` bytes; ``people`` distinct addresses cycled (None: all unique)."""
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,note\n")
        written = 0
        block: list[str] = []
        while written < size:
            number = rows if people is None else rows % people
            line = f"person{number}@example.com,Person {number},x'; DROP TABLE events;--\n"
            block.append(line)
            written += len(line)
            rows += 1
            if len(block) == 10_000:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
    return rows


def run_measured(csv: Path, tmp_path: Path) -> tuple[dict[str, object], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    values = server_values(f"sqlite:///{tmp_path / 'filter.db'}", tmp_path)
    PreferenceCenter(load_settings(values, environ={})).close()  # filter reads an existing store
    env.update({f"PREFCENTER_{k.upper()}": v for k, v in values.items()})
    out = tmp_path / f"{csv.stem}.sendable.csv"
    summary = tmp_path / f"{csv.stem}.json"
    with summary.open("wb") as stdout, (tmp_path / f"{csv.stem}.err").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefcenter", "filter", str(csv), "-o", str(out), "--json"],
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = (tmp_path / f"{csv.stem}.err").read_text()
    assert process.returncode == 0, errors[-2000:]
    return json.loads(summary.read_text()), usage.ru_maxrss


def test_big_list_is_streamed_in_flat_memory(tmp_path: Path) -> None:
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small_rows = write_list(small, 1_000_000, PEOPLE_IN_SMALL_FILES)
    big_rows = write_list(big, 12_000_000, PEOPLE_IN_SMALL_FILES)
    small_summary, small_rss = run_measured(small, tmp_path)
    big_summary, big_rss = run_measured(big, tmp_path)
    assert (tmp_path / "big.sendable.csv").read_bytes().count(b"\n") == PEOPLE_IN_SMALL_FILES + 1
    assert json.dumps(small_summary) != json.dumps(big_summary)
    assert big_rows > 10 * small_rows
    # 12 times the input, the same memory (give or take allocator noise).
    assert big_rss - small_rss < 16_000, (small_rss, big_rss)
