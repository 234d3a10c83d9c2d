"""Cells a spreadsheet would run as a formula (CSV injection), and how a cell is made safe.

A spreadsheet that opens a CSV evaluates a cell starting with ``=``, ``+``, ``-`` or
``@`` (and, in some programs, after a leading tab or carriage return) as a formula, so a
planted address or reason such as ``=HYPERLINK(...)`` runs on the reader's machine.
Every CSV prefcenter writes from its own data passes each cell through
:func:`neutralise`, the OWASP rule: such a cell gets a leading single quote, which a
spreadsheet shows as text. ``filter`` copies the rows of a list byte for byte, so it
only counts such cells (:func:`count_formula_cells`) and warns.
"""

from __future__ import annotations

import functools
import re

#: The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def count_formula_cells(text: str, delimiter: str) -> int:
    """How many cells of ``text`` (CSV lines) start like a formula, quoted or not.

    A tab cannot start a cell of a tab-separated list, and a carriage return followed by
    a line feed is a line ending, so those count only where they cannot be either.
    """
    at_delimiter, at_line, first = _formula_patterns(delimiter)
    # A cell starts the text, or follows a delimiter or a line feed. Each edge gets a
    # pattern that begins with its own literal character, which ``re`` finds with a
    # fast scan; one pattern for both edges (a character class first) is ten times slower.
    count = len(at_delimiter.findall(text)) + (first.match(text) is not None)
    return count + (len(at_line.findall(text)) if "\n" in text else 0)


@functools.lru_cache(maxsize=16)
def _formula_patterns(delimiter: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    tab = "" if delimiter == "\t" else "\t"
    start = rf'"?(?:[=+\-@{tab}]|\r(?!\n|\Z))'
    return (
        re.compile(re.escape(delimiter) + start),
        re.compile("\n" + start),
        re.compile(start),
    )
