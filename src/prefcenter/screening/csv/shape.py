"""What a list file looks like: its encoding, delimiter, header and address column.

``prefcenter filter`` takes whatever a sender exported: with or without a header, comma,
semicolon, tab or pipe separated, UTF-8, or UTF-16 or UTF-32 with a byte-order mark.
These guesses are made once, from the start of the file, and an explicit ``--column``
or ``--encoding`` always wins. A start that is not text (NUL characters: UTF-16 without
a byte-order mark, a spreadsheet) is refused rather than read as rows of nonsense.
"""

from __future__ import annotations

import csv

from prefcenter.errors import InvalidInput

_DELIMITERS = ",;\t|"
_HEADER_NAMES = ("email", "e-mail", "email_address", "emailaddress", "mail", "address", "phone")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    # Byte order named, so the mark is read as a character and written back unchanged.
    # UTF-32 first: its little-endian mark starts with UTF-16's.
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def detect_encoding(head: bytes, default: str = "utf-8") -> str:
    """The encoding named by a byte-order mark at the start of ``head``, else ``default``."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return default


def ascii_compatible(encoding: str) -> bool:
    """Whether ``encoding`` writes ASCII as ASCII (UTF-8, Latin-1; not UTF-16).

    Raises:
        LookupError: ``encoding`` is unknown.
    """
    return "ab,\n".encode(encoding, errors="ignore") == b"ab,\n"


def check_text(head: bytes, encoding: str) -> None:
    """Refuse a list whose first bytes are not text in ``encoding``, so that nobody is
    read as a row of nonsense: NUL characters (UTF-16 without a byte-order mark, a
    spreadsheet, another binary file) or, for UTF-16 and UTF-32, not one ASCII character.

    Raises:
        InvalidInput: naming what the file looks like and how to save it.
    """
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    plain = ascii_compatible(encoding)
    order = _utf16_order(head) if plain and "\x00" in text else None
    if order:
        raise InvalidInput(
            "The list looks like UTF-16 text without a byte-order mark; "
            f"save it as UTF-8 CSV, or pass --encoding utf-16-{order}.",
            value=encoding,
            reason="not text",
        )
    if "\x00" in text or (not plain and text and not text.encode("ascii", "ignore")):
        raise InvalidInput(
            f"The list does not look like {encoding} text (NUL characters, or no ASCII at "
            "all: a spreadsheet or another binary file?); save it as UTF-8 CSV, or pass "
            "--encoding with the file's encoding.",
            value=encoding,
            reason="not text",
        )


def _utf16_order(head: bytes) -> str | None:
    """``le`` or ``be`` when ``head`` has a zero in most of its odd (or even) bytes and in
    none of the others, as ASCII text in UTF-16 has; else None."""
    for order, high, low in (("le", head[1::2], head[::2]), ("be", head[::2], head[1::2])):
        if high.count(0) > len(high) // 2 and 0 not in low:
            return order
    return None


def sniff_delimiter(first_line: str) -> str:
    """The most frequent of ``, ; TAB |`` in the first line, or ``,`` when none occurs."""
    counts = [(first_line.count(d), d) for d in _DELIMITERS]
    best = max(counts)
    return best[1] if best[0] else ","


def looks_like_address(value: str) -> bool:
    """Whether a cell reads like an email address or an international phone number."""
    value = value.strip()
    return "@" in value or (value[:1] == "+" and value[1:2].isdigit())


def _past_the_end(index: int, count: int, header: bool) -> str:
    line, names = ("header", " or a header name") if header else ("first line", "")
    numbered = "numbered 0" if count == 1 else f"numbered from 0 to {count - 1}"
    columns = "1 column" if count == 1 else f"{count} columns"
    return (
        f"Column {index} is past the end of the {line}: it has {columns}, {numbered}; "
        f"pass --column with one of those numbers{names}."
    )


def choose_column(first_row: list[str], column: str | None) -> tuple[bool, int, str | int]:
    """Decide whether ``first_row`` is a header and which field holds the address.

    Returns ``(is_header, index, name_or_index)``.

    Raises:
        InvalidInput: ``column`` is neither a header name nor a 0-based index of a
            column of ``first_row``.
    """
    names = [cell.lstrip("\ufeff").strip().lower() for cell in first_row]
    if column is not None:
        wanted = column.strip().lower()
        if wanted in names:
            index = names.index(wanted)
            return True, index, first_row[index].lstrip("\ufeff").strip()
        if column.strip().isdigit():
            index = int(column)
            header = bool(first_row) and not any(looks_like_address(c) for c in first_row)
            if index >= len(first_row):
                raise InvalidInput(
                    _past_the_end(index, len(first_row), header),
                    value=column,
                    reason="unknown column",
                )
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
        if looks_like_address(cell):
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


def address_columns(
    sample: list[str], delimiter: str, chosen: int, header: list[str]
) -> tuple[str | int, ...]:
    """Columns besides ``chosen`` where most ``sample`` rows hold something like an address.

    Named by ``header`` when there is one, else by 0-based index: what ``filter``
    suggests when the chosen column is mostly invalid.
    """
    rows = [row for row in csv.reader(sample, delimiter=delimiter) if row]
    if not rows:
        return ()
    found: list[str | int] = []
    for index in range(max(len(row) for row in rows)):
        hits = sum(looks_like_address(row[index] if index < len(row) else "") for row in rows)
        if index != chosen and hits * 2 > len(rows):
            name = header[index].lstrip("\ufeff").strip() if index < len(header) else ""
            found.append(name or index)
    return tuple(found)


def refuse_undecoded(values: list[str], before: int) -> None:
    """Refuse an address holding bytes that did not decode (kept as lone surrogates):
    read that way, a person in a Latin-1 file would silently count as invalid.

    Raises:
        InvalidInput: naming the row (counted from 1 after ``before`` rows) and --encoding.
    """
    for number, value in enumerate(values, start=before + 1):
        bad = next((char for char in value if "\udc80" <= char <= "\udcff"), None)
        if bad is not None:
            raise InvalidInput(
                f"Row {number} of the list is not UTF-8 text (its address holds the byte "
                f"{ord(bad) - 0xDC00:#04x}); pass --encoding with the file's encoding "
                "(cp1252 or latin-1 for most Western European spreadsheets) and run again.",
                value=number,
                reason="undecodable",
            )
