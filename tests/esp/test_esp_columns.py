"""The column-wise reading path: the same answers as the row-by-row mapping, row for row.

The provider mappings, the CSV chunks and the dates are held by property tests to the
second pass's row-by-row code (``tests/esp/row_reference.py``) and to ``records``, on
generated tables with blanks, spaces, alternative column names and odd dates.
"""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.esp import importer
from prefcenter.esp.importer import _EPOCH, _MICROSECOND, _Reading
from prefcenter.esp.providers import KINDS, MAPPERS, Columns, Reject, parse_date
from prefcenter.esp.records import Record, Table, records, tables
from prefcenter.store.imports import NO_DATE
from tests.conftest import make_settings
from tests.esp.csv_text import csv_text
from tests.esp.row_reference import READERS

#: Every column name some format reads, and a few it does not.
NAMES = [
    "email", "email address", "recipient", "address", "emailaddress", "created", "created_at",
    "date", "createdat", "lastupdatetime", "reason", "status", "ip", "group_name", "group",
    "group_id", "asm_group_id", "suppressionreason", "origin", "messagestream", "code",
    "error", "tags", "tag", "kind", "type", "scope", "topic", "list", "requested_at", "other",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from([
        "", " ", "a@example.com", " B@Example.ORG ", "not-an-address", "1443651125",
        "1443651125000", "2015-09-30 22:12:05", "2019-12-10T08:58:33Z", "4102444800",
        "Fri, 21 Oct 2011 11:02:55 GMT", "BOUNCE", "complaint", "HardBounce", "Manual Suppression",
        "SpamComplaint", "42", "weekly", "*", "news, *", "deals", "bounce", "spam_report", "topic",
        "550 5.1.1", "Customer", "outbound",
    ]),
    st.text(max_size=12),
)  # fmt: skip
TABLES = st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True).flatmap(
    lambda names: st.tuples(
        st.just(tuple(names)),
        st.lists(st.lists(VALUES, min_size=len(names), max_size=len(names)), max_size=8),
    )
)


def reference(fmt: str, names: tuple[str, ...], row: list[str], kind: str | None) -> tuple:  # type: ignore[type-arg]
    try:
        entry = READERS[fmt](Record(1, dict(zip(names, row, strict=True))), kind)
    except Reject as error:
        return ("reject", str(error))
    return ("ok", entry.address, entry.kind, entry.reason, entry.topic, entry.date_text, entry.at)


def columnwise(fmt: str, names: tuple[str, ...], rows: list[list[str]], kind: str | None) -> list:  # type: ignore[type-arg]
    mapped = MAPPERS[fmt](Columns(Table(names, rows, list(range(len(rows))))), kind)
    found: list[tuple[object, ...]] = []
    for index in range(len(rows)):
        if index in mapped.rejects:
            found.append(("reject", mapped.rejects[index]))
            continue
        try:
            at = parse_date(mapped.dates[index])
        except Reject as error:
            found.append(("reject", str(error)))
            continue
        found.append((
            "ok", mapped.addresses[index], mapped.kinds[index], mapped.reasons[index],
            mapped.topics[index] or None, mapped.dates[index], at,
        ))  # fmt: skip
    return found


@settings(max_examples=300, deadline=None)
@given(TABLES, st.sampled_from(sorted(MAPPERS)), st.sampled_from([None, *KINDS]))
def test_each_format_maps_a_table_as_row_by_row(
    table: tuple[tuple[str, ...], list[list[str]]], fmt: str, kind: str | None
) -> None:
    names, rows = table
    assert columnwise(fmt, names, rows, kind) == [reference(fmt, names, row, kind) for row in rows]


def test_a_name_given_twice_reads_its_last_column() -> None:
    names, rows = ("email", "email", "created"), [["first@example.com", "last@example.com", ""]]
    assert columnwise("sendgrid", names, rows, None) == [
        reference("sendgrid", names, rows[0], None)
    ]
    assert columnwise("sendgrid", names, rows, None)[0][1] == "last@example.com"


CELLS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=25),
    st.integers(1, 7),
    st.booleans(),
)
def test_csv_chunks_hold_the_rows_and_lines_records_reads(
    rows: list[list[str]], size: int, header: bool
) -> None:
    text = csv_text(rows)
    if text is None:
        return  # read as JSON: another path
    expected = [(r.number, r.fields) for r in records(io.StringIO(text, newline=""), header=header)]
    found = [
        (number, dict(zip(table.names, row, strict=False)))
        for table in tables(io.StringIO(text, newline=""), header=header, size=size)
        for number, row in zip(table.numbers, table.rows, strict=True)
    ]
    assert found == expected
    assert all(
        len(row) >= len(table.names)
        for table in tables(io.StringIO(text, newline=""), header=header, size=size)
        for row in table.rows
    )


@pytest.fixture
def center(tmp_path: Path) -> PreferenceCenter:
    return PreferenceCenter(make_settings(tmp_path))


DATES = st.one_of(
    st.integers(0, 10**14).map(str),
    st.sampled_from(["", "0", "00001443651125", "1443651125.5", "٣", "²", "2015-09-30", "x"]),
    st.text(max_size=14),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(DATES, max_size=10))
def test_dates_are_read_as_parse_date_reads_them(
    center: PreferenceCenter, dates: list[str]
) -> None:
    reading = _Reading(center, MAPPERS["csv"], None, None, None)
    rejects: dict[int, str] = {}
    times = reading._times(list(dates), rejects)
    now = center.now()
    for index, text in enumerate(dates):
        try:
            moment = parse_date(text)
        except Reject as error:
            why = str(error)
            assert rejects[index] == why
            continue
        if moment is not None and moment > now:
            assert "in the future" in rejects[index]
            continue
        assert index not in rejects
        expected = NO_DATE if moment is None else ((moment - _EPOCH) // _MICROSECOND) // 1000
        assert times[index] == expected


def test_a_chunk_reports_its_rejects_in_file_order_with_their_lines(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK", 3)
    text = (
        "email,created,group_name\n"
        "ok@example.com,1443651125,\n"
        "\n"
        "not-an-address,1443651125,\n"
        '"two\nlines@example.com",4102444800,\n'
        ",1443651125,\n"
        "fine@example.com,yesterday,\n"
        "grp@example.com,1443651125,\x07bell\n"
    )
    rejected: list[tuple[int, str, dict[str, str]]] = []
    summary = importer.import_stream(
        center, io.StringIO(text, newline=""), "sendgrid",
        on_reject=lambda number, why, fields: rejected.append((number, why, fields)),
    )  # fmt: skip
    assert (summary.rows, summary.added, summary.rejected) == (6, 1, 5)
    assert [(number, why.split(" ")[0]) for number, why, _ in rejected] == [
        (4, "Recipient"),
        (6, "date"),
        (7, "no"),
        (8, "date"),
        (9, "Topic"),
    ]
    assert rejected[0][2] == {"email": "not-an-address", "created": "1443651125", "group_name": ""}
    assert "in the future" in rejected[1][1]
    (event,) = center.history("ok@example.com")
    assert event.requested_at == datetime(2015, 9, 30, 22, 12, 5, tzinfo=UTC)


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["a@example.com", "A@Example.com ", "b@example.org", "c@example.net"]),
        st.sampled_from(["bounce", "spam", "unsubscribe", "topic"]),
        st.sampled_from(["1600000000", "1600000001", "2020-01-01"]),
        st.sampled_from(["", "news", "deals"]),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(ROWS)
def test_any_export_imports_each_change_once_and_again_changes_nothing(
    rows: list[tuple[str, str, str, str]],
) -> None:
    text = "address,kind,date,topic\n" + "".join(",".join(row) + "\n" for row in rows)
    with tempfile.TemporaryDirectory() as name:
        center = PreferenceCenter(make_settings(Path(name)))
        try:
            first = importer.import_stream(center, io.StringIO(text, newline=""), "csv")
            usable = [row for row in rows if row[1] != "topic" or row[3]]
            assert first.rows == len(rows) and first.rejected == len(rows) - len(usable)
            changes = {(row[0].strip().lower(), row[1], row[2], row[3]) for row in usable}
            hard = {"bounce", "spam"}
            kept = {
                (row[0].strip().lower(), "hard" if row[1] in hard else row[1], row[3] if row[1] == "topic" else "")
                for row in usable
            }  # fmt: skip
            assert len(list(center.store.events())) == len(
                {(a, k, d, t if k == "topic" else "") for a, k, d, t in changes}
            )
            assert first.added == len(kept) == sum(first.by_kind.values())
            assert first.added + first.known == len(usable)
            again = importer.import_stream(center, io.StringIO(text, newline=""), "csv")
            assert (again.added, again.known) == (0, len(usable))
        finally:
            center.close()
