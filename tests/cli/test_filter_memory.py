"""``prefcenter filter`` holds at most FILTER_MEMORY of the store, whatever its size.

Peak memory of the real command (a subprocess, its peak RSS from ``wait4``) is compared
on one list against a small store and against the same store with many more
suppressions: within FILTER_MEMORY the larger store costs nothing more (it is asked
per chunk instead of read whole), and with a budget that lets the index in, the same
measurement sees it grow (so the comparison can tell).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from prefcenter.model import Channel, Scope, Source
from prefcenter.store.codes import CHANNEL_CODE, SCOPE_CODE, SOURCE_CODE, to_ms
from tests.cli.conftest import Prefcenter

LIST_ROWS = 40_000
SUPPRESSED = 20_000
EXTRA = 130_000  # 150,000 rows in all: within 4 x the list, so an index may be read
MiB = 2**20


def _person(i: int) -> str:
    return f"reader{i}@example{i % 7}.org"


def _add_suppressions(prefcenter: Prefcenter, hashes: list[bytes]) -> None:
    """Global e-mail suppressions for ``hashes``, written straight into the table."""
    row = (SCOPE_CODE[Scope.GLOBAL], CHANNEL_CODE[Channel.EMAIL], SOURCE_CODE[Source.IMPORT])
    at = to_ms(datetime.now(UTC))
    if prefcenter.database.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(prefcenter.database.removeprefix("sqlite:///"))
        with conn:
            conn.executemany(
                "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, "
                "created_at, source) VALUES (?, ?, x'', ?, 0, ?, ?)",
                [(h, row[0], row[1], at, row[2]) for h in hashes],
            )
        conn.close()
        return
    import psycopg

    with psycopg.connect(prefcenter.database, autocommit=True) as pg:
        pg.execute(
            "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, "
            "source) SELECT h, %s, '', %s, 0, %s, %s FROM unnest(%s::bytea[]) AS h",
            [row[0], row[1], at, row[2], hashes],
        )


#: The command, reporting its peak RSS at exit. VmHWM belongs to the process's own
#: memory since exec; rusage's maxrss would also count this (large) test process,
#: whose pages the child had before exec.
MEASURED = """
import atexit, runpy, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("peak-rss-kib", line.split()[1], file=sys.stderr)
atexit.register(report)
sys.argv = ["prefcenter", *sys.argv[1:]]
runpy.run_module("prefcenter", run_name="__main__")
"""


def _file_bytes(prefcenter: Prefcenter) -> int:
    """Size of the SQLite file (0 on PostgreSQL: the server holds its own cache)."""
    if not prefcenter.database.startswith("sqlite"):
        return 0
    return Path(prefcenter.database.removeprefix("sqlite:///")).stat().st_size


def _peak_rss(prefcenter: Prefcenter, memory_mib: int) -> tuple[int, dict[str, Any]]:
    """Peak RSS in bytes of ``prefcenter filter list.csv --json`` and its summary."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, "filter", "list.csv", "-o", "out.csv", "--json"],
        env=prefcenter.environment(PREFCENTER_FILTER_MEMORY=str(memory_mib)),
        cwd=prefcenter.tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    peak = [line for line in result.stderr.splitlines() if line.startswith("peak-rss-kib ")]
    return int(peak[-1].split()[1]) * 1024, json.loads(result.stdout)


@pytest.mark.timeout(600)
def test_peak_memory_does_not_grow_with_the_store(prefcenter: Prefcenter) -> None:
    lines = ["email"] + [_person(i) for i in range(LIST_ROWS)]
    (prefcenter.tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    with prefcenter.center() as center:
        ids = center.identities
        on_list = [ids.hash_key(ids.canonical(_person(i))) for i in range(SUPPRESSED)]
        others = [ids.hash_key(ids.canonical(f"other{i}@example.net")) for i in range(EXTRA)]
    _add_suppressions(prefcenter, on_list)

    budget = 1  # MiB: about 5,000 rows of index and 5,000 people seen
    small, summary = _peak_rss(prefcenter, budget)
    assert summary["suppressed"] == SUPPRESSED
    before = _file_bytes(prefcenter)
    _add_suppressions(prefcenter, others)
    large, summary = _peak_rss(prefcenter, budget)
    assert summary["suppressed"] == SUPPRESSED
    # The larger store is asked per chunk, not read: no more memory than allocator noise
    # and, on SQLite, its page cache (at most the file's growth; capped at 64 MiB).
    cache = _file_bytes(prefcenter) - before
    assert large <= small + cache + 3 * MiB, (small / MiB, large / MiB, cache / MiB)

    # With room for the index the same measurement sees it: 150,000 rows, ~13 MiB.
    unbounded, summary = _peak_rss(prefcenter, 200)
    assert summary["suppressed"] == SUPPRESSED
    assert unbounded >= large + 8 * MiB, (large / MiB, unbounded / MiB)
    print(
        f"\nfilter peak RSS, {LIST_ROWS:,} rows: store of {SUPPRESSED:,} {small / MiB:.0f} MiB; "
        f"of {SUPPRESSED + EXTRA:,} {large / MiB:.0f} MiB (FILTER_MEMORY={budget}), "
        f"{unbounded / MiB:.0f} MiB (FILTER_MEMORY=200, index read)"
    )
