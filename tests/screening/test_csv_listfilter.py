"""The list filter copies sendable rows byte for byte and never crashes on odd input.

These tests drive :func:`filter_csv` with a small stand-in for a screen (the real one
is exercised end to end in tests/cli/test_filter_cli.py): an address is refused when it
starts with ``x``, invalid without ``@``, duplicate on a second case-insensitive
spelling. Both readers (blocks, and line by line) must give the same output.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.errors import InvalidInput
from prefcenter.model import Reason
from prefcenter.screening.csv.listfilter import filter_csv
from prefcenter.screening.csv.shape import choose_column, detect_encoding, sniff_delimiter


def fake_screen() -> Callable[[list[str]], list[Reason | None]]:
    seen: set[str] = set()

    def screen(values: list[str]) -> list[Reason | None]:
        reasons: list[Reason | None] = []
        for value in values:
            address = value.strip().lower()
            if "@" not in address:
                reasons.append(Reason.INVALID)
            elif address in seen:
                reasons.append(Reason.DUPLICATE)
            else:
                seen.add(address)
                reasons.append(Reason.UNSUBSCRIBED_GLOBAL if address.startswith("x") else None)
        return reasons

    return screen


def run(data: bytes, **kwargs: Any) -> tuple[bytes, dict[str, Any]]:
    """Filter with the block reader (small blocks, to cross many block ends) and check
    the line-by-line reader gives the same, or raises the same; raises what they raise."""
    results: list[tuple[bytes, dict[str, Any]] | InvalidInput] = []
    for block_size in (kwargs.pop("block_size", 7), 0):
        out = io.BytesIO()
        try:
            summary = filter_csv(
                io.BytesIO(data), out, fake_screen(), block_size=block_size, **kwargs
            )
        except InvalidInput as error:
            results.append(error)
        else:
            results.append((out.getvalue(), dict(summary.as_dict())))
    assert list(map(str, results)) == [str(results[0])] * 2
    if isinstance(results[0], InvalidInput):
        raise results[0]
    return results[0]


def test_header_csv_keeps_rows_byte_for_byte() -> None:
    data = (
        b'name,Email,note\r\n"Smith, J",a@b.com,"said ""hi"""\r\n'
        b'"two\nlines",x@b.com,\r\nq,A@B.com,dup\r\n\r\nz,nope,\r\nlast,c@d.org,end'
    )
    out, summary = run(data)
    assert out == b'name,Email,note\r\n"Smith, J",a@b.com,"said ""hi"""\r\nlast,c@d.org,end'
    assert summary == {
        "read": 5, "sendable": 2, "suppressed": 1, "invalid": 1, "duplicate": 1,
        "refused": {"duplicate": 1, "invalid": 1, "unsubscribed_global": 1},
        "blank": 1, "header": True, "column": "Email", "encoding": "utf-8", "formula_cells": 0,
    }  # fmt: skip


def test_one_address_per_line_without_header() -> None:
    out, summary = run(b"a@b.com\nx@y.com\nb@c.com\nB@C.com\n")
    assert out == b"a@b.com\nb@c.com\n"
    assert (summary["header"], summary["column"], summary["read"]) == (False, 0, 4)


def test_quoted_multiline_record_is_copied_whole() -> None:
    data = b'email,address\na@b.com,"1 Main St\r\nSpringfield"\nc@d.com,x\n'
    out, summary = run(data)
    assert out == data
    assert summary["read"] == 2


@pytest.mark.parametrize(
    ("data", "column", "expected"),
    [
        (b"id;mail;x\n1;a@b.com;x\n2;x@b.com;y\n", None, b"id;mail;x\n1;a@b.com;x\n"),
        (b"id\temail\n1\ta@b.com\n", None, b"id\temail\n1\ta@b.com\n"),
        (b"id,Contact\n1,a@b.com\n2,xx@b.com\n", "contact", b"id,Contact\n1,a@b.com\n"),
        (b"1,a@b.com\n2,x@b.com\n", "1", b"1,a@b.com\n"),
        (b"Recipients\na@b.com\nx@b.com\n", None, b"Recipients\na@b.com\n"),
        (b"\xef\xbb\xbfemail\na@b.com\n", None, b"\xef\xbb\xbfemail\na@b.com\n"),
    ],
)
def test_delimiter_and_column_detection(data: bytes, column: str | None, expected: bytes) -> None:
    out, _ = run(data, column=column)
    assert out == expected


def test_latin1_bytes_outside_the_address_pass_through_unchanged() -> None:
    data = "name,email\nJos\xe9,a@b.com\nM\xfcller,c@b.com\n".encode("latin-1")
    out, summary = run(data)
    assert out == data
    assert summary["invalid"] == 0


def test_an_address_that_is_not_utf8_is_refused_naming_encoding() -> None:
    """Read as UTF-8, a Latin-1 address would silently count as invalid: a lost person."""
    data = "name,email\nJos\xe9,a@b.com\nM\xfcller,\xe4@b.com\n".encode("latin-1")
    with pytest.raises(InvalidInput, match=r"Row 2 of the list is not UTF-8 text .* --encoding"):
        run(data)
    out, summary = run(data, encoding="latin-1")
    assert out == data and summary["invalid"] == 0


@pytest.mark.parametrize(("codec", "named"), [("utf-16", "utf-16-le"), ("utf-32", "utf-32-le")])
def test_utf16_and_utf32_with_bom_round_trip(codec: str, named: str) -> None:
    data = "email,name\r\na@b.com,Zoë\r\nx@b.com,Ann\r\n".encode(codec)
    out, summary = run(data)
    assert out.decode(codec) == "email,name\r\na@b.com,Zoë\r\n"
    assert summary["encoding"] == named


def test_utf16_without_bom_reads_with_encoding_named() -> None:
    data = "email\na@b.com\nx@b.com\n".encode("utf-16-le")
    out, summary = run(data, encoding="utf-16-le")
    assert out == "email\na@b.com\n".encode("utf-16-le")
    assert summary["read"] == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("email\na@b.com\n".encode("utf-16-le"),
         "The list looks like UTF-16 text without a byte-order mark; "
         "save it as UTF-8 CSV, or pass --encoding utf-16-le."),
        # No header: before, every row was read as an invalid address, and exit 0.
        ("a@b.com\nc@d.com\n".encode("utf-16-be"),
         "The list looks like UTF-16 text without a byte-order mark; "
         "save it as UTF-8 CSV, or pass --encoding utf-16-be."),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00b\xeeh^\x01\x00\x00",  # .xlsx
         "The list does not look like utf-8 text (NUL characters, or no ASCII at all: a "
         "spreadsheet or another binary file?); save it as UTF-8 CSV, or pass --encoding "
         "with the file's encoding."),
        # A UTF-16 mark before bytes that are no UTF-16 text: was one header "最牡慢敧਀".
        (b"\xff\xfe\x00garbage\x00\n",
         "The list does not look like utf-16-le text (NUL characters, or no ASCII at all: a "
         "spreadsheet or another binary file?); save it as UTF-8 CSV, or pass --encoding "
         "with the file's encoding."),
    ],
)  # fmt: skip
def test_what_is_not_text_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(data)
    assert str(caught.value) == message


_ROWS = "".join(f"r{n},p{n}@example.com,ok\n" for n in range(40))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # The review's list: Bob was silently gone (read 1, invalid 1, exit 0).
        (b'name,email\n"Alice,alice@example.com\nBob,bob@example.com\n',
         'Line 2 of the list opens a quote (") that never closes, so the rest of the file '
         "would be read as one field; close or remove that quote and run again."),
        # After 40 rows, a blank line and CRLF lines; Zed is sendable, Bob would be lost.
        (f"id,email,note\n{_ROWS}\n{_ROWS}".replace("\n", "\r\n").encode()
         + b'zed,zed@example.com,"oops\nbob,bob@example.com,hi\n',
         'Line 83 of the list opens a quote (") that never closes, so the rest of the file '
         "would be read as one field; close or remove that quote and run again."),
        # A quote that closes later: the address column runs over lines.
        (f"id,email,note\n{_ROWS}".encode() + b'z,"c@d.com\ne,e@f.com,y\n",x\ng,g@h.com,z\n',
         'Line 42 of the list opens a quote (") that runs on over 3 lines and leaves the row '
         "without a usable address; close or remove that quote and run again."),
        # ... or takes in the address column itself.
        (b'name,email\nx,a@b.com\n"Ann,ann@b.com\nBob,bob@b.com\n"\nCy,cy@b.com\n',
         'Line 3 of the list opens a quote (") that runs on over 3 lines and leaves the row '
         "without a usable address; close or remove that quote and run again."),
        # Without a header, in the first line.
        (b'"a@b.com\nc@d.com\n',
         'Line 1 of the list opens a quote (") that never closes, so the rest of the file '
         "would be read as one field; close or remove that quote and run again."),
    ],
)  # fmt: skip
@pytest.mark.parametrize("block_size", [7, 64, 1 << 20])
def test_a_quote_that_would_lose_people_is_refused(
    data: bytes, message: str, block_size: int
) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(data, block_size=block_size)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (["id", "name"], "email",
         "Column 'email' is not in the header (columns: 'id', 'name'); "
         "pass --column with one of those names or a 0-based index."),
        (["id", "name"], None,
         "No address column found among 'id', 'name'; pass --column NAME (or a 0-based index)."),
        (["id", "name"], "5",
         "Column 5 is past the end of the header: it has 2 columns, numbered from 0 to 1; "
         "pass --column with one of those numbers or a header name."),
        (["a@b.com"], "1",
         "Column 1 is past the end of the first line: it has 1 column, numbered 0; "
         "pass --column with one of those numbers."),
    ],
)  # fmt: skip
def test_column_errors_name_the_fix(row: list[str], column: str | None, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        choose_column(row, column)
    assert str(caught.value) == message


def test_bad_encoding_is_a_clean_error() -> None:
    with pytest.raises(InvalidInput, match="Encoding 'nope' is unknown"):
        run(b"a@b.com\n", encoding="nope")
    with pytest.raises(InvalidInput, match="not valid utf-16-le text"):
        run(b"\xff\xfea\x00@\x00\x00\xd8", encoding=None)


def test_empty_and_blank_inputs() -> None:
    assert run(b"") == (b"", run(b"")[1])
    out, summary = run(b"\n\n\n")
    assert (out, summary["read"], summary["blank"]) == (b"", 0, 3)


def test_sniff_and_bom_helpers() -> None:
    assert sniff_delimiter("a;b;c,d\n") == ";"
    assert sniff_delimiter("alice@example.com\n") == ","
    assert detect_encoding(b"\xfe\xff\x00a") == "utf-16-be"
    assert detect_encoding(b"abc") == "utf-8"


def test_progress_is_reported_in_bytes() -> None:
    data = b"email\n" + b"".join(f"p{i}@example.com\n".encode() for i in range(50))
    seen: list[int] = []
    filter_csv(
        io.BytesIO(data), io.BytesIO(), fake_screen(), on_progress=seen.append, block_size=64
    )
    assert seen and seen == sorted(seen) and seen[-1] == len(data)


# -- properties -------------------------------------------------------------------------

# A bare CR is a line break to csv itself (csv.writer leaves it unquoted under a "\n"
# terminator), so cells carry LF and quotes but not CR; nor NUL, which makes a list
# not text (see test_what_is_not_text_is_refused).
cells = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r\x00"),
    max_size=12,
)
# A line break within an address is what a quote running over rows looks like, and is
# refused (test_a_quote_that_would_lose_people_is_refused); around it, it is stripped.
addresses = st.one_of(
    st.from_regex(r"[a-z]{1,6}@[a-z]{1,6}\.com", fullmatch=True),
    cells.filter(lambda cell: "\n" not in cell.strip()),
)
tables = st.lists(st.tuples(addresses, cells), min_size=1, max_size=20)


def is_subsequence(small: bytes, big: bytes) -> bool:
    it = iter(big)
    return all(byte in it for byte in small)


@given(
    rows=tables,
    terminator=st.sampled_from(["\n", "\r\n"]),
    delimiter=st.sampled_from(",;\t|"),
    address_last=st.booleans(),
    block_size=st.sampled_from([7, 40, 4096]),
)
@settings(max_examples=200, deadline=None)
def test_written_rows_are_exactly_the_sendable_input_rows(
    rows: list[tuple[str, str]],
    terminator: str,
    delimiter: str,
    address_last: bool,
    block_size: int,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(["note", "email"] if address_last else ["email", "note"])
    header = buffer.getvalue()
    records: list[tuple[str, str]] = []
    for row in rows:
        start = buffer.tell()
        writer.writerow(row[::-1] if address_last else row)
        records.append((buffer.getvalue()[start:], row[0]))
    out, summary = run(buffer.getvalue().encode(), column="email", block_size=block_size)
    decided = fake_screen()([address for _, address in records])
    kept = [raw for (raw, _), reason in zip(records, decided, strict=True) if reason is None]
    expected = header + "".join(kept)
    assert out.decode() == expected
    assert summary["read"] == len(rows)


@given(data=st.binary(max_size=400), column=st.sampled_from([None, "email", "0", "3"]))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash(data: bytes, column: str | None) -> None:
    try:
        out, summary = run(data, column=column)
    except InvalidInput:
        return
    # Whatever was written is whole input records, in input order, unchanged.
    assert is_subsequence(out, data)
    refused = sum(summary["refused"].values())
    assert summary["sendable"] + refused == summary["read"]


@given(
    text=st.text(alphabet='a@,"\n\r', max_size=80),
    column=st.sampled_from([None, "0", "1"]),
    block_size=st.sampled_from([1, 5, 40]),
)
@settings(max_examples=1000, deadline=None)
def test_quotes_and_line_breaks_read_alike_in_blocks_and_lines(
    text: str, column: str | None, block_size: int
) -> None:
    # run() checks both readers give the same rows and counts, or the same error (with
    # the same line number); a list without quotes is never refused for one.
    reason = ""
    try:
        run(("a@b\n" + text).encode(), column=column, block_size=block_size)
    except InvalidInput as error:
        reason = error.reason
    assert '"' in text or reason != "unclosed quote"


@given(rows=tables, encoding=st.sampled_from(["utf-8", "latin-1", "cp1252", "utf-16"]))
@settings(max_examples=100, deadline=None)
def test_any_encoding_round_trips_sendable_rows(rows: list[tuple[str, str]], encoding: str) -> None:
    text = "email,note\n" + "".join(
        f"{a.replace(',', '')},{n.replace(',', '')}\n".replace("\r", "").replace('"', "")
        for a, n in rows
        if "\n" not in a + n
    )
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    out, _ = run(data, encoding=encoding)
    kept = out.decode(encoding).splitlines(keepends=True)
    original = data.decode(encoding).splitlines(keepends=True)
    assert kept[0] == original[0]
    position = 0
    for line in kept[1:]:  # a subsequence of the input lines
        position = original.index(line, position) + 1
