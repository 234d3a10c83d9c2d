"""The uploaded-list guard: stream a CSV (or one address per line) through a screen.

A bought or exported list must never re-add people who opted out. This module reads the
file, asks a screen (``PreferenceCenter.screen``) about each address, a chunk at a time,
and writes every sendable row *exactly as it was read* (same bytes, quoting, line endings
and column order), so the output can go straight back into whatever tool produced it.

Memory stays flat: the file is read in blocks of about a megabyte, and only the screen's
duplicate detection (and its index of the store) grows.

Two readers give the same records (property tests compare them on arbitrary input):

- **blocks**, the fast one: a block is cut at its last line break; when it has no bare
  CR, its lines are parsed by :mod:`csv` as a list (or split on the delimiter when the
  block has no quote at all), and a record is one line. A sentinel line proves no
  quoted field ran past a line end; if one did, the rest of the file goes to
- **lines**: :mod:`csv` is fed from a generator that remembers the lines it handed out,
  so a record with quoted line breaks is copied whole.

A quote that opens and never closes (or swallows the address column) would make csv
read the rows after it as one field and silently lose those people, so the lines
reader refuses such a record, naming the line the quote opened on.

No line may be longer than ``max_line`` characters (:data:`MAX_LINE`, a mebibyte of
text: a list row is a few hundred): a longer one is refused with its line number, so
one endless line cannot make the reader hold the whole file.

Rows are copied as they are, so a cell that a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@``, tab or CR first: CSV injection) stays in the output; the
summary counts such cells (``formula_cells``) so the command can warn.
"""

from __future__ import annotations

import csv
import io
import itertools
import operator
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from prefcenter.errors import InvalidInput
from prefcenter.model import Reason
from prefcenter.screening.csv.blocks import bare_cr, key_of, split_block
from prefcenter.screening.csv.cells import count_formula_cells
from prefcenter.screening.csv.shape import (
    address_columns,
    ascii_compatible,
    check_text,
    choose_column,
    detect_encoding,
    refuse_undecoded,
    sniff_delimiter,
)

if TYPE_CHECKING:
    from _csv import Reader

#: Decides a chunk of addresses: a reason each, None where it may be sent (a ``Screen``).
Screener = Callable[[list[str]], list["Reason | None"]]
#: Chunks screened ahead of the one being written, for a screen that can work on the
#: next chunks meanwhile (one with ``submit``, like ``Screen``).
_AHEAD = 2
#: Bytes a row in flight takes besides its text: its string and list slot here (57),
#: its hash (65) and its share of the screen's lists and answers (about 30).
_HELD_ROW = 150
#: Characters read per block (about a megabyte): a few tens of thousands of rows.
BLOCK = 1 << 20
#: Records per screened chunk on the line-by-line path.
_LINE_CHUNK = 10_000
#: Longest line read, in characters (line break included).
MAX_LINE = 1 << 20


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
        address_columns: other columns (names, or indexes without a header) where most
            of the first rows look like addresses: what to suggest when the chosen
            column is mostly invalid.
        formula_cells: cells read that start like a spreadsheet formula (``=``, ``+``,
            ``-``, ``@``, tab, CR); they are copied unchanged.
    """

    read: int
    sendable: int
    refused: dict[str, int] = field(default_factory=dict)
    header: bool = False
    column: str | int = 0
    blank: int = 0
    encoding: str = "utf-8"
    address_columns: tuple[str | int, ...] = ()
    formula_cells: int = 0

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
            "formula_cells": self.formula_cells,
        }


def filter_csv(
    source: IO[bytes],
    sink: IO[bytes],
    screen: Screener,
    *,
    column: str | None = None,
    encoding: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    block_size: int = BLOCK,
    rejects: IO[bytes] | None = None,
    max_line: int = MAX_LINE,
) -> FilterSummary:
    """Copy the sendable rows of ``source`` to ``sink`` unchanged, and count the rest.

    Args:
        source: the list, opened in binary mode.
        sink: where sendable rows go (binary); the header, if any, is written first.
        screen: decides each chunk of addresses, in order (see :data:`Screener`). When it
            has a ``submit`` method (a ``Screen``), the next chunks are submitted while
            the oldest is written, so a parallel screen keeps its worker busy; when it
            has a ``window_bytes`` attribute, rows are submitted until they take that
            much memory before the oldest answer is asked for (the screen decides
            them together).
        column: header name or 0-based index of the address column; guessed when None.
        encoding: text encoding; None reads a byte-order mark or assumes UTF-8. Bytes that
            do not decode are carried through unchanged (``surrogateescape``).
        on_progress: called after each block with the number of bytes consumed so far.
        block_size: characters per block; 0 reads line by line (the reference reader).
        rejects: where refused rows go (binary), as read, after a ``reason`` first column.
        max_line: longest line accepted, in characters.

    Raises:
        InvalidInput: a line is longer than ``max_line``, the address column cannot be
            found, the start of the file is not
            text (NUL characters), a quote opened on some line never closes or takes in
            the address column, or the text (an address: Latin-1 read as UTF-8) does not decode.
    """
    buffered: io.BufferedReader = (
        source if isinstance(source, io.BufferedReader) else io.BufferedReader(cast(Any, source))
    )
    head = buffered.peek(4)  # the whole first buffer (kilobytes), not consumed
    encoding = encoding or detect_encoding(head[:4])
    try:
        errors = "surrogateescape" if ascii_compatible(encoding) else "strict"
    except LookupError:
        raise InvalidInput(
            f"Encoding {encoding!r} is unknown; pass --encoding utf-8, latin-1 or utf-16.",
            value=encoding,
            reason="unknown encoding",
        ) from None
    check_text(head, encoding)
    text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")
    out = io.TextIOWrapper(sink, encoding=encoding, errors=errors, newline="")
    refused = None if rejects is None else io.TextIOWrapper(rejects, encoding, errors, "")
    run = _Run(text, out, buffered, screen, on_progress, refused, max_line)
    try:
        run.all(column, block_size)
    except UnicodeError:
        raise InvalidInput(
            f"The list is not valid {encoding} text; pass --encoding with the file's encoding.",
            value=encoding,
            reason="undecodable",
        ) from None
    finally:
        out.flush()
        out.detach()
        if refused:
            refused.flush()
            refused.detach()
        text.detach()
    return run.summary(encoding)


class _Run:
    """One pass over one file: reads records, screens them in chunks, writes and counts."""

    def __init__(
        self,
        text: io.TextIOWrapper,
        out: io.TextIOWrapper,
        raw: IO[bytes],
        screen: Screener,
        on_progress: Callable[[int], None] | None,
        rejects: io.TextIOWrapper | None = None,
        max_line: int = MAX_LINE,
    ) -> None:
        self.text, self.out, self.raw, self.rejects = text, out, raw, rejects
        self.sample: list[str] = []
        self.first_row: list[str] = []
        self.max_line = max_line
        #: Lines of the file read so far by the block reader (for error messages).
        self.lines = 0
        self.formulas = 0
        self.submit = cast(
            "Callable[[list[str]], Callable[[], list[Reason | None]]]",
            getattr(screen, "submit", None) or _at_once(screen),
        )
        self.screen = screen
        #: Memory the rows in flight take (about), in all and per chunk.
        self.held = 0
        self.ahead_held: deque[int] = deque()
        self.on_progress = on_progress
        self.ahead: deque[tuple[list[str], str, Callable[[], list[Reason | None]]]] = deque()
        self.counts: Counter[Reason | None] = Counter()
        self.read = self.blank = 0
        self.header = False
        self.name: str | int = 0
        self.index = 0
        self.delimiter = ","

    def summary(self, encoding: str) -> FilterSummary:
        """What the pass counted."""
        refused = {reason.value: n for reason, n in self.counts.items() if reason is not None}
        return FilterSummary(
            read=self.read,
            sendable=self.counts[None],
            refused=refused,
            header=self.header,
            column=self.name,
            blank=self.blank,
            encoding=encoding,
            address_columns=address_columns(
                self.sample, self.delimiter, self.index, self.first_row if self.header else []
            ),
            formula_cells=self.formulas,
        )

    def all(self, column: str | None, block_size: int) -> None:
        """The first record by lines (it decides header and column), the rest in blocks
        (or by lines with ``block_size`` 0, or from where a record spans lines)."""
        first_line = self._readline(1)
        if not first_line:
            return
        self.delimiter = sniff_delimiter(first_line)
        taken: list[str] = []
        lines = _lines(self._bounded(first_line, 2), taken)
        reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
        records = _records(reader, taken)
        first = next(records, None)
        while first is not None and not first[1]:
            self.blank += 1
            first = next(records, None)
        if first is None:
            return
        raw_text, row, start = first
        self.header, self.index, self.name = choose_column(row, column)
        self.first_row = row
        self.formulas += count_formula_cells(raw_text, self.delimiter)
        if start:
            self._check_quotes(raw_text, row, start, last=True)
        if self.header:
            self.out.write(raw_text)
            if self.rejects is not None:
                self.rejects.write("reason" + self.delimiter + raw_text)
        else:
            self.take([raw_text], [_field(row, self.index)])
        if block_size:
            # In a block each record and each blank line is one line: so the lines read
            # before a leftover are this offset plus the records and blanks counted.
            offset = reader.line_num - self.read - self.blank
            self.lines = reader.line_num
            leftover = self.blocks(block_size)
            if leftover is not None:
                taken.clear()
                lines = _lines(leftover, taken)
                reader = csv.reader(lines, delimiter=self.delimiter, strict=False)
                self.by_lines(_records(reader, taken, offset + self.read + self.blank))
        else:
            self.by_lines(records)
        while self.ahead:
            self._write()
        self._progress()

    def take(self, raws: list[str], values: list[str], separator: str = "") -> None:
        """Screen one chunk of records; write the sendable ones (``separator`` after each)
        once the screen answers, in order."""
        if len(self.sample) < _SAMPLE:
            self.sample += [raw + separator for raw in raws[: _SAMPLE - len(self.sample)]]
        # Plain ASCII goes as it is: the screen strips what needs stripping.
        if "".join(values).isascii():
            keys = values
        else:
            refuse_undecoded(values, self.read)
            keys = [key_of(value) for value in values]
        self.read += len(raws)
        self.ahead.append((raws, separator, self.submit(keys)))
        held = sum(map(len, raws)) + _HELD_ROW * len(raws)
        self.ahead_held.append(held)
        self.held += held
        # What the screen may hold before the oldest answer is asked for (its window).
        window = int(getattr(self.screen, "window_bytes", 0))
        while len(self.ahead) > _AHEAD and self.held > window:
            self._write()

    def _write(self) -> None:
        """Write the sendable rows of the oldest chunk screened."""
        raws, separator, answer = self.ahead.popleft()
        self.held -= self.ahead_held.popleft()
        reasons = answer()
        sendable = reasons.count(None)
        self.counts[None] += sendable
        if sendable < len(reasons):
            self.counts.update(filter(None, reasons))  # a Reason is a non-empty string
        kept = list(itertools.compress(raws, map(operator.not_, reasons)))
        if kept:
            self.out.write(separator.join(kept) + separator)
        if self.rejects is not None and sendable < len(reasons):
            pairs = zip(raws, reasons, strict=True)
            rows = [f"{why}{self.delimiter}{raw}{separator}" for raw, why in pairs if why]
            self.rejects.write("".join(rows))

    def by_lines(self, records: Iterator[tuple[str, list[str], int]]) -> None:
        """The reference reader: one record at a time, chunked for the screen."""
        raws: list[str] = []
        values: list[str] = []
        raw_text, start = "", 0
        row: list[str] = []
        for raw_text, row, start in records:
            if not row:
                self.blank += 1
                continue
            if start:
                self._check_quotes(raw_text, row, start, last=False)
            self.formulas += count_formula_cells(raw_text, self.delimiter)
            raws.append(raw_text)
            values.append(_field(row, self.index))
            if len(raws) == _LINE_CHUNK:
                self.take(raws, values)
                self._progress()
                raws, values = [], []
        if raws:
            self.take(raws, values)
        if start:
            self._check_quotes(raw_text, row, start, last=True)

    def _check_quotes(self, raw_text: str, row: list[str], start: int, *, last: bool) -> None:
        """Refuse a record that spans lines from line ``start`` if a quote in it never closes
        (only the ``last`` one can: at the end of the file) or took in a line break within
        the address, or the address column itself: the people on those lines would be lost.
        (A line break around an address is stripped, as a screen strips it.)"""
        address = row[self.index].strip() if self.index < len(row) else "\n"
        lost = "\n" in address or "\r" in address
        if not (lost or last):
            return
        lines = io.StringIO(raw_text, newline="").readlines()
        # A line after a record is a record of its own, unless a quote is still open.
        after = csv.reader([*lines, "-"], delimiter=self.delimiter, strict=False)
        if len(list(after)) == 1:
            raise InvalidInput(
                f'Line {start} of the list opens a quote (") that never closes, so the rest '
                "of the file would be read as one field; close or remove that quote and run "
                "again.",
                value=start,
                reason="unclosed quote",
            )
        if lost:
            raise InvalidInput(
                f'Line {start} of the list opens a quote (") that runs on over {len(lines)} '
                "lines and leaves the row without a usable address; close or remove that "
                "quote and run again.",
                value=start,
                reason="unclosed quote",
            )

    def blocks(self, block_size: int) -> Iterator[str] | None:
        """Read the rest in blocks; None when done, else the lines still to read one by one."""
        pending = ""
        while True:
            block = self.text.read(block_size)
            if not block:
                if pending and not self._block(pending, terminated=False):
                    return io.StringIO(pending, newline="")
                return None
            body = pending + block
            cut = body.rfind("\n") + 1
            if not cut:
                if len(body) > self.max_line:
                    raise self._too_long(self.lines + 1)
                pending = body
                continue
            if body.find("\n") >= self.max_line:  # a line begun in the pending part
                raise self._too_long(self.lines + 1)
            pending = body[cut:]
            if len(pending) > self.max_line:
                raise self._too_long(self.lines + body.count("\n") + 1)
            if not self._block(body[: cut - 1], terminated=True):
                lines = body.count("\n", 0, cut)
                rest = pending + self._readline(self.lines + lines + 1) if pending else ""
                rest_lines = 1 if rest else 0
                remaining = self._bounded("", self.lines + lines + rest_lines + 1)
                return itertools.chain(io.StringIO(body[:cut] + rest, newline=""), remaining)
            self.lines += body.count("\n", 0, cut)
            self._progress()

    def _readline(self, number: int) -> str:
        """The next line, which is line ``number`` of the file; refused when too long."""
        line = self.text.readline(self.max_line + 1)
        if len(line) > self.max_line:
            raise self._too_long(number)
        return line

    def _bounded(self, first: str, number: int) -> Iterator[str]:
        """``first`` (unless empty), then every further line from line ``number`` on."""
        if first:
            yield first
        while line := self._readline(number):
            yield line
            number += 1

    def _too_long(self, number: int) -> InvalidInput:
        return InvalidInput(
            f"Line {number} of the list is over {self.max_line} characters long (a list "
            "row is a few hundred); fix or remove that line and run again.",
            value=number,
            reason="line too long",
        )

    def _block(self, joined: str, *, terminated: bool) -> bool:
        """Screen a block of whole lines (the break after the last one taken off, if it
        had one); False, with nothing done, if a record spans lines."""
        if bare_cr(joined, terminated=terminated):
            return False  # csv ends a record at a bare CR, so lines are not records
        separator = "\n" if terminated else ""
        split = split_block(joined, self.delimiter, self.index)
        if split is None:
            return self._block_by_csv(joined.split("\n"), separator)
        lines, values, blank = split
        self.blank += blank
        self.formulas += count_formula_cells(joined, self.delimiter)
        if values:
            self.take(lines, values, separator)
        return True

    def _block_by_csv(self, lines: list[str], separator: str) -> bool:
        rows = list(csv.reader([*lines, "-"], delimiter=self.delimiter, strict=False))
        if len(rows) != len(lines) + 1 or rows[-1] != ["-"]:
            return False  # a quoted field ran past the end of a line
        rows.pop()
        if [] in rows:
            self.blank += rows.count([])
            lines = [line for line, row in zip(lines, rows, strict=True) if row]
            rows = [row for row in rows if row]
        self.formulas += count_formula_cells("\n".join(lines), self.delimiter)
        if rows:
            self.take(lines, [_field(row, self.index) for row in rows], separator)
        return True

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.raw.tell())


#: Rows kept to suggest another address column when the chosen one is mostly invalid.
_SAMPLE = 200


def _at_once(screen: Screener) -> Callable[[list[str]], Callable[[], list[Reason | None]]]:
    """``submit`` for a plain screener: it answers at once."""

    def submit(values: list[str]) -> Callable[[], list[Reason | None]]:
        reasons = screen(values)
        return lambda: reasons

    return submit


def _lines(source: Iterator[str], taken: list[str]) -> Iterator[str]:
    """Lines of ``source``, each also appended to ``taken`` (csv never reads ahead, so the
    lines handed out since the last record are exactly the raw text of the next one)."""
    for line in source:
        taken.append(line)
        yield line


def _records(
    reader: Reader, taken: list[str], before: int = 0
) -> Iterator[tuple[str, list[str], int]]:
    """Each record of ``reader``, its raw text and, when it spans lines, the number of the
    line it starts on (else 0); ``before`` lines of the file came before the reader's."""
    for row in reader:
        if len(taken) == 1:
            raw_text, start = taken[0], 0
        else:
            raw_text, start = "".join(taken), before + reader.line_num - len(taken) + 1
        taken.clear()
        yield raw_text, row, start


def _field(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""
