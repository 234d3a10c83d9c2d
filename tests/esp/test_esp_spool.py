"""The import's bounded state: chunks while reading, key ranges while writing.

Flat memory is checked structurally, never by timing or by the process's size: the
importer is given small CHUNK and GROUP values, and every chunk it spools and every group
it writes is counted.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.esp import import_records, importer, records
from prefcenter.esp.records import Record
from prefcenter.esp.spool import BUCKETS, HashSpool
from prefcenter.model import Source
from prefcenter.store.imports import WIDTH, ImportGroup
from prefcenter.store.protocol import Session
from prefcenter.store.sqlite import BULK_CACHE_KIB, CACHE_KIB
from tests.conftest import make_settings

ROWS = 3000
CHUNK = 100
GROUP = 400


def export(rows: int, *, repeat: int = 0) -> str:
    """A SendGrid bounces export; the first ``repeat`` addresses appear again at the end
    with a later date (the same person bounced twice)."""
    sink = io.StringIO()
    writer = csv.writer(sink)
    writer.writerow(["email", "created", "reason", "status"])
    for n in range(rows):
        writer.writerow([f"p{n}@spool{n % 7}.example.org", 1_600_000_000 + n, "gone", "5.1.1"])
    for n in range(repeat):
        writer.writerow([f"p{n}@spool{n % 7}.example.org", 1_700_000_000 + n, "gone", "5.1.1"])
    return sink.getvalue()


@pytest.fixture
def center(tmp_path: Path) -> PreferenceCenter:
    return PreferenceCenter(make_settings(tmp_path))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, center: PreferenceCenter) -> dict[str, list[Any]]:
    """Small CHUNK and GROUP; every spooled chunk and every written group, recorded."""
    monkeypatch.setattr(importer, "CHUNK", CHUNK)
    monkeypatch.setattr(importer, "GROUP", GROUP)
    seen: dict[str, list[Any]] = {"spooled": [], "written": []}
    add, write = HashSpool.add, importer._write

    def spool_add(spool: HashSpool, values: list[Any]) -> None:
        seen["spooled"].append(len(values) // WIDTH)
        add(spool, values)

    def written(session: Session, group: ImportGroup) -> dict[str, int]:
        assert len(group.values) == group.rows * WIDTH
        seen["written"].append(list(group.values[0::WIDTH]))
        return write(session, group)

    monkeypatch.setattr(HashSpool, "add", spool_add)
    monkeypatch.setattr(importer, "_write", written)
    return seen


def test_reading_holds_one_chunk_and_writing_one_key_range(
    center: PreferenceCenter, counted: dict[str, list[Any]]
) -> None:
    held: list[int] = []

    def rows() -> Iterator[Record]:
        # Each row handed out: how many the importer has read but not yet spooled.
        for number, record in enumerate(records(io.StringIO(export(ROWS)))):
            held.append(number - sum(counted["spooled"]))
            yield record

    summary = import_records(center, rows(), "sendgrid")
    assert summary.added == ROWS
    assert max(held) <= CHUNK
    assert max(counted["spooled"]) <= CHUNK
    groups = counted["written"]
    assert sum(len(group) for group in groups) == ROWS
    # A group is whole buckets, closed once it reaches GROUP rows: at most GROUP plus one
    # bucket (a 256th of the rows, give or take).
    assert max(len(group) for group in groups) <= GROUP + 3 * ROWS // BUCKETS
    assert len(groups) >= ROWS // (GROUP + 3 * ROWS // BUCKETS)
    # In hash order: each group a range of whole buckets, after the one before.
    ranges = [(min(key[0] for key in group), max(key[0] for key in group)) for group in groups]
    assert all(high < low for (_, high), (low, _) in itertools.pairwise(ranges))


def test_one_person_twice_in_a_file_is_one_suppression_and_two_events(
    center: PreferenceCenter, counted: dict[str, list[Any]]
) -> None:
    summary = import_records(center, records(io.StringIO(export(ROWS, repeat=50))), "sendgrid")
    assert (summary.added, summary.known) == (ROWS, 50)
    # Both dates of one person land in one group (same hash, same bucket): one
    # transaction in which the earlier row (file order) adds the suppression.
    first = center.identity("p0@spool0.example.org").hash
    written = counted["written"]
    assert sum(keys.count(first) for keys in written) == 2
    assert [keys.count(first) for keys in written if first in keys] == [2]
    assert sum(len(keys) for keys in written) == ROWS + 50
    events = [e for e in center.store.events() if e.identity_hash == first.hex()]
    assert [e.source for e in events] == [Source.IMPORT, Source.IMPORT]
    assert sorted(e.evidence or "" for e in events) == [
        "import:sendgrid:bounce:1600000000",
        "import:sendgrid:bounce:1700000000",
    ]
    assert len(center.suppressions("p0@spool0.example.org")) == 1
    again = import_records(center, records(io.StringIO(export(ROWS, repeat=50))), "sendgrid")
    assert (again.added, again.known) == (0, ROWS + 50)
    assert len(list(center.store.events())) == ROWS + 50


def test_the_spool_gives_back_every_row_by_bucket_and_removes_its_files(tmp_path: Path) -> None:
    rows = [(bytes([n % 256, n // 256]) + bytes(14), f"row {n}", n) for n in range(5000)]
    with HashSpool(3, str(tmp_path)) as spool:
        for start in range(0, len(rows), 333):
            spool.add([value for row in rows[start : start + 333] for value in row])
        assert spool.rows == len(rows)
        groups = list(spool.groups(700))
    back = [row for values, count in groups for row in zip(*[iter(values)] * 3, strict=True)]
    assert all(len(values) == 3 * count for values, count in groups)
    assert sorted(back) == sorted(rows)
    # Bucket by bucket (the first byte), each bucket's rows in the order they came.
    assert back == sorted(rows, key=lambda row: row[0][0])
    assert list(tmp_path.iterdir()) == []


def test_an_import_writes_with_the_smaller_sqlite_cache_and_gives_it_back(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cache() -> int:
        return int(center.store.read(lambda s: s.conn.execute("PRAGMA cache_size").fetchone()[0]))  # type: ignore[attr-defined]

    during: list[int] = []
    write = importer._write

    def written(session: Session, group: ImportGroup) -> dict[str, int]:
        during.append(int(session.conn.execute("PRAGMA cache_size").fetchone()[0]))  # type: ignore[attr-defined]
        return write(session, group)

    monkeypatch.setattr(importer, "_write", written)
    before = cache()
    import_records(center, records(io.StringIO(export(50))), "sendgrid")
    assert during == [-BULK_CACHE_KIB]
    assert cache() == before == -CACHE_KIB


def test_progress_is_reported_per_chunk_read_and_per_group_written(
    center: PreferenceCenter, counted: dict[str, list[Any]]
) -> None:
    chunks: list[int] = []
    writes: list[tuple[int, int]] = []
    text = export(ROWS) + "not-an-address,1600000000,gone,5.1.1\n"
    summary = import_records(
        center,
        records(io.StringIO(text)),
        "sendgrid",
        on_chunk=lambda: chunks.append(1),
        on_write=lambda written, total: writes.append((written, total)),
    )
    assert summary.rejected == 1
    assert len(chunks) == len(counted["spooled"]) >= ROWS // CHUNK
    assert [total for _, total in writes] == [ROWS] * len(writes)
    assert [written for written, _ in writes] == sorted({written for written, _ in writes})
    assert writes[-1] == (ROWS, ROWS)


def test_an_import_stopped_part_way_keeps_its_groups_and_finishes_when_run_again(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "GROUP", GROUP)
    write = importer._write
    done: list[int] = []

    def stops_after_two(session: Session, group: ImportGroup) -> dict[str, int]:
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(group.rows)
        return write(session, group)

    monkeypatch.setattr(importer, "_write", stops_after_two)
    with pytest.raises(KeyboardInterrupt):
        import_records(center, records(io.StringIO(export(ROWS))), "sendgrid")
    committed = len(list(center.store.events()))
    assert committed == sum(done) and 0 < committed < ROWS
    monkeypatch.setattr(importer, "_write", write)
    again = import_records(center, records(io.StringIO(export(ROWS))), "sendgrid")
    assert (again.added, again.known) == (ROWS - committed, committed)
    assert len(list(center.store.events())) == ROWS
