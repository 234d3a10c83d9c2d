"""What a list file looks like: its encoding, delimiter, header and address column.

``prefcenter filter`` takes whatever a sender exported: with or without a header, comma,
semicolon, tab or pipe separated, UTF-8 or UTF-16 with a byte-order mark. These guesses
are made once, from the start of the file, and an explicit ``--column`` or
``--encoding`` always wins.
"""

from __future__ import annotations

from prefcenter.errors import InvalidInput

_DELIMITERS = ",;\t|"
_HEADER_NAMES = ("email", "e-mail", "email_address", "emailaddress", "mail", "address", "phone")
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    # Byte order named, so the mark is read as a character and written back unchanged.
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


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
