"""The rows of a provider's suppression export, streamed: CSV with a header, or JSON.

Providers hand their lists out as CSV (dashboard exports, import files) or as the JSON
their list APIs answer: an array of objects, an object wrapping one (``{"items": [...]}``,
``{"Suppressions": [...]}``), or one object per line. :func:`records` yields each row as
a dict of lower-cased field names to text, reading the file in chunks, so memory stays
flat however long the list is.

:func:`tables` gives the same rows a chunk at a time, column-wise: the header once and
each row as the CSV reader's list (no dict per row), which is what an import of a
million-row export reads (``esp.columns`` maps a whole chunk at once).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import IO, NamedTuple

from prefcenter.errors import InvalidInput

#: Bytes read at a time from a JSON export.
_CHUNK = 1 << 16
#: Largest single JSON object accepted (one suppression is a few hundred bytes).
_MAX_OBJECT = 1 << 20


class Record(NamedTuple):
    """One row of an export: its line (CSV) or position (JSON), and its fields (a tuple:
    an import makes one per row)."""

    number: int
    fields: dict[str, str]


class Table(NamedTuple):
    """A chunk of rows that share their field names: each row's values in ``names``'
    order (as long as ``names``: short rows are padded with ``""``), and each row's
    line (CSV) or position (JSON)."""

    names: tuple[str, ...]
    rows: list[list[str]]
    numbers: list[int]


#: Names of a CSV without a header row (SES's bulk import file).
NO_HEADER = ("address", "reason")


def tables(stream: IO[str], *, header: bool = True, size: int = 5000) -> Iterator[Table]:
    """The rows of a CSV or JSON export (as :func:`records`), ``size`` at a time.

    Raises:
        InvalidInput: the JSON is malformed.
    """
    if _peek(stream) in ("[", "{"):
        yield from tables_of(_json_records(stream), size)
        return
    reader = csv.reader(stream)
    if header:
        first = next(reader, None)
        if first is None:
            return
        names = tuple(name.strip().lower().lstrip("\ufeff") for name in first)
    else:
        names = NO_HEADER
    width = len(names)
    while True:
        before = reader.line_num
        rows = list(islice(reader, size))
        if not rows:
            return
        regular = width > 1 and min(map(len, rows)) >= width
        if regular and reader.line_num - before == len(rows):
            # One line a row, none blank or short: the common case, no work per row.
            yield Table(names, rows, list(range(before + 1, before + 1 + len(rows))))
            continue
        yield _irregular(names, rows, before)


class Block(NamedTuple):
    """Whole lines of a CSV, none with a quote character (so each line ends a record,
    and the lines can be parsed anywhere, in any order): ``text`` follows line
    ``before``."""

    names: tuple[str, ...]
    text: str
    before: int

    def table(self) -> Table:
        """The block's rows, as :func:`tables` reads them."""
        reader = csv.reader(io.StringIO(self.text, newline=""))
        return _table(self.names, list(reader), self.before, reader.line_num)


def blocks(stream: IO[str], *, header: bool = True, size: int = 5000) -> Iterator[Table | Block]:
    """:func:`tables`, except that ``size`` lines with no quote character in them come
    as a :class:`Block`, unparsed; a chunk with a quote is parsed here, up to the end of
    the record its last line is part of. The rows, read in order, are the same.

    Raises:
        InvalidInput: the JSON is malformed.
    """
    if _peek(stream) in ("[", "{"):
        yield from tables_of(_json_records(stream), size)
        return
    if header:
        # The reader reads no further than the header's own lines.
        heading = csv.reader(stream)
        first = next(heading, None)
        if first is None:
            return
        names = tuple(name.strip().lower().lstrip("\ufeff") for name in first)
        before = heading.line_num
    else:
        names, before = NO_HEADER, 0
    while True:
        lines = list(islice(stream, size))
        if not lines:
            return
        text = "".join(lines)
        if '"' not in text:
            yield Block(names, text, before)
            before += len(lines)
            continue
        # A quoted value may go on past these lines: read on to the end of its record
        # (the reader asks for a line only when a record needs one).
        reader = csv.reader(chain(lines, stream))
        rows: list[list[str]] = []
        while reader.line_num < len(lines):
            row = next(reader, None)
            if row is None:
                break
            rows.append(row)
        if rows:
            yield _table(names, rows, before, reader.line_num)
        before += reader.line_num


def _table(names: tuple[str, ...], rows: list[list[str]], before: int, lines: int) -> Table:
    """Rows read from ``lines`` lines after line ``before``, as :func:`tables` gives them."""
    width = len(names)
    if width > 1 and rows and min(map(len, rows)) >= width and lines == len(rows):
        return Table(names, rows, list(range(before + 1, before + 1 + len(rows))))
    return _irregular(names, rows, before)


def _irregular(names: tuple[str, ...], rows: list[list[str]], before: int) -> Table:
    """A chunk with blank lines, short rows or values spanning lines, as :func:`records`
    reads them: blank lines left out, short rows padded, each row numbered by the line
    it ends on."""
    width = len(names)
    kept: list[list[str]] = []
    numbers: list[int] = []
    line = before
    for row in rows:
        # A row takes one line, plus one per line break inside its quoted values.
        line += 1 + sum(
            value.count("\n") + value.count("\r") - value.count("\r\n") for value in row
        )
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        kept.append(row + [""] * (width - len(row)) if len(row) < width else row)
        numbers.append(line)
    return Table(names, kept, numbers)


def tables_of(rows: Iterable[Record], size: int = 5000) -> Iterator[Table]:
    """:class:`Record` values as tables: consecutive records with the same field names
    (a JSON export's objects usually all have the same) share one, up to ``size`` rows."""
    names: tuple[str, ...] = ()
    chunk: list[list[str]] = []
    numbers: list[int] = []
    for record in rows:
        fields = record.fields
        keys = tuple(fields)
        if keys != names or len(chunk) >= size:
            if chunk:
                yield Table(names, chunk, numbers)
            names, chunk, numbers = keys, [], []
        chunk.append(list(fields.values()))
        numbers.append(record.number)
    if chunk:
        yield Table(names, chunk, numbers)


def records(stream: IO[str], *, header: bool = True) -> Iterator[Record]:
    """The rows of a CSV or JSON export (told apart by its first character).

    ``header=False`` reads a CSV without a header row as ``address, reason`` (the form
    of SES's bulk import file).

    Raises:
        InvalidInput: the JSON is malformed.
    """
    first = _peek(stream)
    if first in ("[", "{"):
        yield from _json_records(stream)
        return
    yield from _csv_records(stream, header=header)


def _peek(stream: IO[str]) -> str:
    """The first character that is not blank (a BOM too), left unread for the parser."""
    while True:
        position = stream.tell()
        char = stream.read(1)
        if not char:
            return ""
        if char not in " \t\r\n\ufeff":
            stream.seek(position)
            return char


def _csv_records(stream: IO[str], *, header: bool) -> Iterator[Record]:
    reader = csv.reader(stream)
    if header:
        names = next(reader, None)
        if names is None:
            return
        names = [name.strip().lower().lstrip("\ufeff") for name in names]
    else:
        names = list(NO_HEADER)
    width = len(names)
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        yield Record(reader.line_num, dict(zip(names, row, strict=False)))


def _json_records(stream: IO[str]) -> Iterator[Record]:
    """Every JSON object of the outermost array (or each line's object, JSON lines)."""
    decoder = json.JSONDecoder()
    buffer = ""
    position = 0
    number = 0
    in_array = False
    done = False
    while not done:
        chunk = stream.read(_CHUNK)
        done = not chunk
        buffer = buffer[position:] + chunk
        position = 0
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n,":
                position += 1
            if position >= len(buffer):
                break
            char = buffer[position]
            if char == "]":
                return  # the list ends; what follows is paging (a token, a next URL)
            if char == "[":
                position += 1
                in_array = True
                continue
            if not in_array and char == "{" and _wraps_an_array(buffer, position):
                # {"items": [ ... ]}: step inside to the array's first element.
                position = buffer.index("[", position) + 1
                in_array = True
                continue
            if char == "}" or char == '"' or char.isdigit() or char in "-tfn":
                # The rest of a wrapping object (a paging token, a closing brace): skip
                # one JSON value or punctuation at a time.
                position = _skip(buffer, position, decoder, done)
                if position < 0:
                    position = -position - 1
                    break
                continue
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as error:
                if not done and len(buffer) - position < _MAX_OBJECT:
                    break  # the object continues in the next chunk
                raise InvalidInput(
                    f"The JSON export is malformed near character {error.pos}; export it "
                    "again, or convert it to CSV.",
                    reason="json",
                ) from None
            position = end
            if isinstance(value, dict):
                number += 1
                yield Record(number, {str(k).lower(): _text(v) for k, v in value.items()})


def _wraps_an_array(buffer: str, position: int) -> bool:
    """Whether the object starting at ``position`` opens with ``"key": [``."""
    head = buffer[position : position + 200]
    colon = head.find(":")
    return colon > 0 and head[colon + 1 :].lstrip().startswith("[")


def _skip(buffer: str, position: int, decoder: json.JSONDecoder, done: bool) -> int:
    """Past one JSON scalar (or a ``}`` / ``:``); ``-position - 1`` when it is cut off."""
    char = buffer[position]
    if char == "}":
        return position + 1
    try:
        _, end = decoder.raw_decode(buffer, position)
    except json.JSONDecodeError:
        if not done:
            return -position - 1
        raise InvalidInput(
            "The JSON export is malformed; export it again, or convert it to CSV.",
            reason="json",
        ) from None
    while end < len(buffer) and buffer[end] in " \t\r\n:":
        end += 1
    return end


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return json.dumps(value) if isinstance(value, dict) else str(value)


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (for a progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


__all__ = [
    "NO_HEADER",
    "Block",
    "CountingReader",
    "Record",
    "Table",
    "blocks",
    "records",
    "tables",
    "tables_of",
]
