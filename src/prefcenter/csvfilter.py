"""The uploaded-list guard: stream a CSV (or one address per line) through ``filter_stream``.

A bought or exported list must never re-add people who opted out. This module reads the
file row by row, asks the center about each address, and writes every sendable row
*exactly as it was read* (same bytes, quoting, line endings and column order), so the
output can go straight back into whatever tool produced the input.

Memory stays flat: rows are read lazily, handed to ``filter_stream`` (which batches
store lookups per chunk and keeps order) and written as they come back. Only the
center's duplicate detection grows with the number of distinct people.

The raw text of each record is captured by feeding :mod:`csv` from a generator that
remembers the lines it handed out, so a record with quoted line breaks is copied whole
and the parse agrees with :mod:`csv` on every input.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, cast

from prefcenter.errors import InvalidInput
from prefcenter.model import Reason, Refusal

#: A record as read: its raw text (line ending included) and the address field.
Row = tuple[str, str]

_DELIMITERS = ",;\t|"
_HEADER_NAMES = ("email", "e-mail", "email_address", "emailaddress", "mail", "address", "phone")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


class FilterStream(Protocol):
    """``PreferenceCenter.filter_stream`` with topic, channel and kind already bound."""

    def __call__(
        self, rows: Iterable[Row], key: Callable[[Row], str]
    ) -> Iterator[tuple[Row, Refusal | None]]: ...


@dataclass(frozen=True, slots=True)
class FilterSummary:
    """What ``filter`` made of a file.

    Attributes:
        read: data rows read (header and blank lines not counted).
        sendable: rows written to the output.
        refused: refused rows per :class:`Reason` value (suppressions, ``invalid``,
            ``duplicate``).
        header: whether the first line was taken as a header (and written through).
        column: the name (or 0-based index, when there is no header) of the address column.
        blank: blank lines skipped.
        encoding: the text encoding used to read (and write) the file.
    """

    read: int
    sendable: int
    refused: dict[str, int] = field(default_factory=dict)
    header: bool = False
    column: str | int = 0
    blank: int = 0
    encoding: str = "utf-8"

    @property
    def invalid(self) -> int:
        """Rows whose address could not be used."""
        return self.refused.get(Reason.INVALID.value, 0)

    @property
    def duplicate(self) -> int:
        """Rows naming a person an earlier row already named."""
        return self.refused.get(Reason.DUPLICATE.value, 0)

    @property
    def suppressed(self) -> int:
        """Rows refused by a suppression, preference or frequency rule."""
        return sum(self.refused.values()) - self.invalid - self.duplicate

    def as_dict(self) -> dict[str, object]:
        """The summary as plain JSON-ready data (the ``--json`` shape)."""
        return {
            "read": self.read,
            "sendable": self.sendable,
            "suppressed": self.suppressed,
            "invalid": self.invalid,
            "duplicate": self.duplicate,
            "refused": dict(sorted(self.refused.items())),
            "blank": self.blank,
            "header": self.header,
            "column": self.column,
            "encoding": self.encoding,
        }


def detect_encoding(head: bytes, default: str = "utf-8") -> str:
    """The encoding named by a byte-order mark at the start of ``head``, else ``default``."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return default


def sniff_delimiter(first_line: str) -> str:
    """The most frequent of ``, ; TAB |`` in the first line, or ``,`` when none occurs."""
    counts = [(first_line.count(d), d) for d in _DELIMITERS]
    best = max(counts)
    return best[1] if best[0] else ","


def _looks_like_address(value: str) -> bool:
    value = value.strip()
    return "@" in value or (value[:1] == "+" and value[1:2].isdigit())


def choose_column(first_row: list[str], column: str | None) -> tuple[bool, int, str | int]:
    """Decide whether ``first_row`` is a header and which field holds the address.

    Returns ``(is_header, index, name_or_index)``.

    Raises:
        InvalidInput: ``column`` is neither a header name nor a 0-based index.
    """
    names = [cell.lstrip("\ufeff").strip().lower() for cell in first_row]
    if column is not None:
        wanted = column.strip().lower()
        if wanted in names:
            index = names.index(wanted)
            return True, index, first_row[index].lstrip("\ufeff").strip()
        if column.strip().isdigit():
            index = int(column)
            header = bool(first_row) and not any(_looks_like_address(c) for c in first_row)
            return header, index, index
        shown = ", ".join(repr(n) for n in names[:10]) or "none"
        raise InvalidInput(
            f"Column {column!r} is not in the header (columns: {shown}); "
            "pass --column with one of those names or a 0-based index.",
            value=column,
            reason="unknown column",
        )
    for candidate in _HEADER_NAMES:
        if candidate in names:
            index = names.index(candidate)
            return True, index, first_row[index].lstrip("\ufeff").strip()
    for index, cell in enumerate(first_row):
        if _looks_like_address(cell):
            return False, index, index
    if len(first_row) <= 1:
        # One column and no address in the first line: a header such as "Recipients".
        return bool(first_row), 0, first_row[0].lstrip("\ufeff").strip() if first_row else 0
    shown = ", ".join(repr(n) for n in names[:10])
    raise InvalidInput(
        f"No address column found among {shown}; pass --column NAME (or a 0-based index).",
        value=names,
        reason="no address column",
    )


def filter_csv(
    source: IO[bytes],
    sink: IO[bytes],
    filter_stream: FilterStream,
    *,
    column: str | None = None,
    encoding: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 20000,
) -> FilterSummary:
    """Copy the sendable rows of ``source`` to ``sink`` unchanged, and count the rest.

    Args:
        source: the list, opened in binary mode.
        sink: where sendable rows go (binary); the header, if any, is written first.
        filter_stream: decides each row, keeping order (see :class:`FilterStream`).
        column: header name or 0-based index of the address column; guessed when None.
        encoding: text encoding; None reads a byte-order mark or assumes UTF-8. Bytes that
            do not decode are carried through unchanged (``surrogateescape``).
        on_progress: called now and then with the number of bytes consumed so far.
        progress_every: rows between ``on_progress`` calls.

    Raises:
        InvalidInput: the address column cannot be found.
    """
    buffered: io.BufferedReader = (
        source if isinstance(source, io.BufferedReader) else io.BufferedReader(cast(Any, source))
    )
    encoding = encoding or detect_encoding(buffered.peek(4)[:4])
    try:
        errors = "surrogateescape" if _ascii_compatible(encoding) else "strict"
    except LookupError:
        raise InvalidInput(
            f"Encoding {encoding!r} is unknown; pass --encoding utf-8, latin-1 or utf-16.",
            value=encoding,
            reason="unknown encoding",
        ) from None
    text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")
    out = io.TextIOWrapper(sink, encoding=encoding, errors=errors, newline="")
    try:
        return _run(
            text, out, buffered, filter_stream, column, encoding, on_progress, progress_every
        )
    except UnicodeError:
        raise InvalidInput(
            f"The list is not valid {encoding} text; pass --encoding with the file's encoding.",
            value=encoding,
            reason="undecodable",
        ) from None
    finally:
        out.flush()
        out.detach()
        text.detach()


def _ascii_compatible(encoding: str) -> bool:
    return "ab,\n".encode(encoding, errors="ignore") == b"ab,\n"


def _run(
    text: io.TextIOWrapper,
    out: io.TextIOWrapper,
    raw: IO[bytes],
    filter_stream: FilterStream,
    column: str | None,
    encoding: str,
    on_progress: Callable[[int], None] | None,
    progress_every: int,
) -> FilterSummary:
    first_line = text.readline()
    if not first_line:
        return FilterSummary(read=0, sendable=0, encoding=encoding)
    delimiter = sniff_delimiter(first_line)
    taken: list[str] = []

    def lines() -> Iterator[str]:
        # csv pulls one line at a time and never reads ahead, so the lines handed out
        # since the last record are exactly the raw text of the next one.
        taken.append(first_line)
        yield first_line
        for line in text:
            taken.append(line)
            yield line

    records = _records(csv.reader(lines(), delimiter=delimiter, strict=False), taken)
    blank = 0
    first = next(records, None)
    while first is not None and not first[1]:
        blank += 1
        first = next(records, None)
    if first is None:
        return FilterSummary(read=0, sendable=0, blank=blank, encoding=encoding)
    header_raw, header_row = first
    is_header, index, name = choose_column(header_row, column)
    counts: dict[str, int] = {}
    sendable = 0
    read = 0
    pending: list[Row] = [] if is_header else [(header_raw, _field(header_row, index))]
    if is_header:
        out.write(header_raw)

    def rows() -> Iterator[Row]:
        nonlocal blank, read
        yield from pending
        read += len(pending)
        for raw_text, row in records:
            if not row:
                blank += 1
                continue
            read += 1
            if on_progress is not None and read % progress_every == 0:
                on_progress(raw.tell())
            yield raw_text, _field(row, index)

    write = out.write
    for (raw_text, _address), refusal in filter_stream(rows(), _key):
        if refusal is None:
            write(raw_text)
            sendable += 1
        else:
            reason = refusal.reason.value
            counts[reason] = counts.get(reason, 0) + 1
    if on_progress is not None:
        on_progress(raw.tell())
    return FilterSummary(
        read=read,
        sendable=sendable,
        refused=counts,
        header=is_header,
        column=name,
        blank=blank,
        encoding=encoding,
    )


def _records(reader: Iterator[list[str]], taken: list[str]) -> Iterator[tuple[str, list[str]]]:
    for row in reader:
        raw_text = taken[0] if len(taken) == 1 else "".join(taken)
        taken.clear()
        yield raw_text, row


def _field(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _key(row: Row) -> str:
    address = row[1]
    if address.isascii():
        return address.strip()
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable bytes (surrogate escapes) can never be a usable address.
        return ""
    return address.strip()
