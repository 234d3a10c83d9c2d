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
    Plain substring searches rule most blocks out before the pattern runs.
    """
    starts = "=+-@\r" + ("" if delimiter == "\t" else "\t")
    before = (delimiter, "\n", delimiter + '"', '\n"')
    head = text[:2].lstrip('"')[:1]
    if (not head or head not in starts) and not any(
        edge + c in text for edge in before for c in starts
    ):
        return 0
    tab = "" if delimiter == "\t" else "\t"
    cell = rf'(?:^|{re.escape(delimiter)})"?(?:[=+\-@{tab}]|\r(?!\n|$))'
    pattern = re.compile(cell, re.MULTILINE)
    return len(pattern.findall(text))
