"""Splitting a block of list lines into records.

``prefcenter filter`` reads a list in blocks of whole lines. When every quoted field of a
block opens and closes within its line and none lies among the fields up to the
address, splitting each line on the delimiter gives exactly what :mod:`csv` gives, at a
fraction of the cost; otherwise the caller parses the block with :mod:`csv`.
"""

from __future__ import annotations

import re


def bare_cr(joined: str, *, terminated: bool) -> bool:
    """Whether a block holds a CR that is not part of a CRLF line end."""
    whole = joined + "\n" if terminated else joined.removesuffix("\r")
    return whole.count("\r") != whole.count("\r\n")


def split_block(joined: str, delimiter: str, index: int) -> tuple[list[str], list[str], int] | None:
    """A block's record lines, their address fields and its number of blank lines, by
    splitting on the delimiter; None when csv must parse the block instead.

    Splitting is what csv does when every quoted field opens and closes within its line
    (so no record spans lines) and none lies among the fields up to the address.
    """
    if '"' in joined and not _split_is_csv(joined, delimiter, index):
        return None
    lines = joined.split("\n")
    bare = joined.replace("\r", "").split("\n") if "\r" in joined else lines
    blank = 0
    if "" in bare:  # blank lines are no records
        blank = bare.count("")
        lines = [line for line, text in zip(lines, bare, strict=True) if text]
        bare = [text for text in bare if text]
    # One expression per line and nothing kept but the field: lists of fields kept for a
    # whole block would cost more in garbage collection than the splitting.
    if index == 0:
        values = [text.partition(delimiter)[0] for text in bare]
    else:
        values = [
            fields[index] if len(fields := text.split(delimiter, index + 1)) > index else ""
            for text in bare
        ]
    return lines, values, blank


def _split_is_csv(joined: str, delimiter: str, index: int) -> bool:
    escaped = re.escape(delimiter)
    field = f'"[^"\r\n]*+(?:""[^"\r\n]*+)*+"|[^"{escaped}\r\n]*+'
    one_record_per_line = f"(?:(?:{field})(?:{escaped}(?:{field}))*+\r?\n)*+"
    if not re.fullmatch(one_record_per_line, joined + "\n"):  # compiled once, by re's cache
        return False
    unquoted = f'[^"{escaped}\n]*+'
    early_quote = f'\n(?:{unquoted}{escaped}){{0,{index}}}+{unquoted}"'
    return re.search(early_quote, "\n" + joined) is None


def key_of(address: str) -> str:
    """The address as the screen gets it: stripped; "" for text that came from
    undecodable bytes."""
    if address.isascii():
        return address.strip()
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable bytes (surrogate escapes) can never be a usable address.
        return ""
    return address.strip()
