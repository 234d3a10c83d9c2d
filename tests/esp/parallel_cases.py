"""The import's first pass on two cores: the same result as on one, or a clear failure.

A forked worker (``prefcenter.esp.parallel``) reads the blocks of lines it has room
for; the main process reads the rest and reports rejects in file order. Held here to
the one-process path on generated exports (quotes, line breaks in values, blank lines,
rejects), and a worker that fails or is killed stops the import before it writes.
Run by ``test_esp_parallel.py`` in a fresh interpreter (see :mod:`tests.fresh_pytest`).
"""

from __future__ import annotations

import io
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.errors import WorkerFailed
from prefcenter.esp import importer, parallel
from prefcenter.esp.records import Block, blocks, tables
from prefcenter.screening.worker import can_fork_worker
from tests.conftest import make_settings
from tests.esp.csv_text import csv_text

CELLS = st.one_of(
    st.sampled_from(["", " ", "a@example.com", 'say "hi"', "two\nlines", "x\r\ny", "1600000000"]),
    st.text(alphabet='ab,"\n\r @.', max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=25),
    st.integers(1, 7),
    st.booleans(),
)
def test_blocks_hold_the_rows_and_lines_tables_reads(
    rows: list[list[str]], size: int, header: bool
) -> None:
    text = csv_text(rows)
    if text is None:
        return  # read as JSON: another path
    expected = [
        (number, row)
        for table in tables(io.StringIO(text, newline=""), header=header, size=size)
        for number, row in zip(table.numbers, table.rows, strict=True)
    ]
    found: list[tuple[int, list[str]]] = []
    for item in blocks(io.StringIO(text, newline=""), header=header, size=size):
        if isinstance(item, Block):
            assert '"' not in item.text
        table = item.table() if isinstance(item, Block) else item
        assert table.names == (("email", "created", "reason") if header else ("address", "reason"))
        found += zip(table.numbers, table.rows, strict=True)
    assert found == expected


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a@example.com", "A@Example.com ", "b@example.org", "c@example.net",
                         "not-an-address", '"q@example.com"', "\"two\nlines@example.com\""]),
        st.sampled_from(["bounce", "spam", "unsubscribe", "topic"]),
        st.sampled_from(["1600000000", "1600000001", "2020-01-01", "4102444800", "never"]),
        st.sampled_from(["", "news", "deals", "\x07bell"]),
        st.sampled_from(["\n", "\n", "\n\n", "\r\n"]),  # sometimes a blank line after
    ),
    max_size=40,
)  # fmt: skip


def _run(
    text: str, *, parallel_: bool
) -> tuple[dict[str, object], list[tuple[int, str, dict[str, str]]], list[Any], list[Any]]:
    with tempfile.TemporaryDirectory() as name:
        center = PreferenceCenter(make_settings(Path(name)))
        try:
            rejected: list[tuple[int, str, dict[str, str]]] = []
            summary = importer.import_stream(
                center, io.StringIO(text, newline=""), "csv", parallel=parallel_,
                on_reject=lambda number, why, fields: rejected.append((number, why, fields)),
            )  # fmt: skip
            events = [
                (e.identity_hash, e.action, e.source, e.scope, e.topic, e.channel, e.reason,
                 e.evidence, e.requested_at)
                for e in center.store.events()
            ]  # fmt: skip
            kept = sorted(
                (s.identity_hash, s.channel, s.scope, s.topic, s.reason, s.source, s.address)
                for s in center.store.export()
            )  # fmt: skip
        finally:
            center.close()
    return summary.as_dict(), rejected, events, kept


@settings(max_examples=30, deadline=None)
@given(ROWS, st.integers(1, 6), st.integers(0, 3))
def test_two_cores_import_what_one_does_rejects_in_file_order(
    rows: list[tuple[str, str, str, str, str]], chunk: int, alone: int
) -> None:
    assert can_fork_worker()  # Linux, two cores, no stray thread: the worker is used
    text = "address,kind,date,topic\n" + "".join(",".join(row[:4]) + row[4] for row in rows)
    sent = 0
    send = parallel.ReadWorker.send

    def counting(self: parallel.ReadWorker, number: int, item: Any) -> bool:
        nonlocal sent
        taken = send(self, number, item)
        sent += taken
        return taken

    saved = importer.CHUNK, importer.ALONE
    importer.CHUNK, importer.ALONE = chunk, alone
    parallel.ReadWorker.send = counting  # type: ignore[method-assign,assignment]
    try:
        one = _run(text, parallel_=False)
        two = _run(text, parallel_=True)
    finally:
        importer.CHUNK, importer.ALONE = saved
        parallel.ReadWorker.send = send  # type: ignore[method-assign]
    assert two == one
    numbers = [number for number, _, _ in two[1]]
    assert numbers == sorted(numbers)
    # Past the chunks read alone, the worker took one at least.
    assert sent > 0 or len(rows) <= chunk * alone


def _export(rows: int) -> str:
    return "address,kind,date\n" + "".join(
        f"reader{n}@example.org,bounce,1600000000\n" for n in range(rows)
    )


def test_a_worker_that_fails_stops_the_import_before_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    center = PreferenceCenter(make_settings(tmp_path))
    main = os.getpid()
    read = importer._Reading.read

    def failing(self: importer._Reading, table: Any) -> Any:
        if os.getpid() != main:
            raise ValueError("a bad chunk in the worker")
        return read(self, table)

    monkeypatch.setattr(importer, "CHUNK", 10)
    monkeypatch.setattr(importer, "ALONE", 2)
    monkeypatch.setattr(importer._Reading, "read", failing)
    try:
        with pytest.raises(WorkerFailed, match=r"a bad chunk in the worker.*run the import again"):
            importer.import_stream(
                center, io.StringIO(_export(100), newline=""), "csv", parallel=True
            )
        assert list(center.store.events()) == []
        assert list(center.store.export()) == []
    finally:
        center.close()


def test_a_killed_worker_stops_the_import_before_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    center = PreferenceCenter(make_settings(tmp_path))
    main = os.getpid()
    read = importer._Reading.read

    def killed(self: importer._Reading, table: Any) -> Any:
        if os.getpid() != main:
            os.kill(os.getpid(), signal.SIGKILL)
        return read(self, table)

    monkeypatch.setattr(importer, "CHUNK", 10)
    monkeypatch.setattr(importer, "ALONE", 2)
    monkeypatch.setattr(importer._Reading, "read", killed)
    try:
        with pytest.raises(WorkerFailed, match="killed"):
            importer.import_stream(
                center, io.StringIO(_export(100), newline=""), "csv", parallel=True
            )
        assert list(center.store.events()) == []
        # The same file, on one core, then imports in full.
        monkeypatch.setattr(importer._Reading, "read", read)
        summary = importer.import_stream(center, io.StringIO(_export(100), newline=""), "csv")
        assert (summary.rows, summary.added) == (100, 100)
    finally:
        center.close()
