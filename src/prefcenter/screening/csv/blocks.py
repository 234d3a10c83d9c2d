"""Splitting a block of list lines into records.

``prefcenter filter`` reads a list in blocks of whole lines. When every quoted field of a
block opens and closes within its line and none lies among the fields up to the
address, splitting each line on the delimiter gives exactly what :mod:`csv` gives, at a
fraction of the cost; otherwise the caller parses the block with :mod:`csv`.
"""

from __future__ import annotations

import functools
import re


def bare_cr(joined: str, *, terminated: bool) -> bool:
    """Whether a block holds a CR that is not part of a CRLF line end."""
    if "\r" not in joined:
        return False  # most lists: no copy, no counting
    whole = joined + "\n" if terminated else joined.removesuffix("\r")
    return whole.count("\r") != whole.count("\r\n")


def split_block(joined: str, delimiter: str, index: int) -> tuple[list[str], list[str], int] | None:
    """A block's record lines, their address fields and its number of blank lines, by
    splitting on the delimiter; None when csv must parse the block instead.

    Splitting is what csv does when every quoted field opens and closes within its line
    (so no record spans lines) and none lies among the fields up to the address. Blocks
    with other quoting (a quote inside an unquoted field, doubled quotes) go to csv.
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
    one_record_per_line, early_quote = _patterns(delimiter, index)
    if not one_record_per_line.fullmatch(joined):
        return False
    return early_quote.search("\n" + joined) is None


@functools.lru_cache(maxsize=16)
def _patterns(delimiter: str, index: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The two checks behind :func:`split_block`, compiled once per delimiter and column.

    - Every other quote opens a field (right after a delimiter or a line break, where
      csv opens one) and the next closes it on the same line: then no record spans
      lines (after a closing quote csv reads on to the next delimiter). The text between
      quoted fields is matched by a single negated character, which ``re`` scans fast;
      a quote inside an unquoted field, a doubled quote or a quoted line break fails the
      match, and csv decides instead.
    - A quote among the fields up to the address (splitting would cut that field).
    """
    escaped = re.escape(delimiter)
    quoted = f'(?<![^{escaped}\n])"[^"\n]*+"'
    one_record_per_line = re.compile(f'[^"]*+(?:{quoted}[^"]*+)*+')
    unquoted = f'[^"{escaped}\n]*+'
    early_quote = re.compile(f'\n(?:{unquoted}{escaped}){{0,{index}}}+{unquoted}"')
    return one_record_per_line, early_quote


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
