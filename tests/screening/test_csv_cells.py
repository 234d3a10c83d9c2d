"""Counting the cells of a list that a spreadsheet would run as a formula (``cells.py``)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from prefcenter.screening.csv.cells import count_formula_cells


def _reference(text: str, delimiter: str) -> int:
    """The rule in one plain pattern: a cell starts the text, a line or follows the
    delimiter; a tab starts none in a tab-separated list, nor a CR of a CRLF ending."""
    tab = "" if delimiter == "\t" else "\t"
    cell = rf'(?:^|{re.escape(delimiter)})"?(?:[=+\-@{tab}]|\r(?!\n|$))'
    return len(re.findall(cell, text, re.MULTILINE))


@given(
    st.text(alphabet=',;\t|"=+-@\r\nax '),
    st.sampled_from([",", ";", "\t", "|"]),
)
def test_the_count_agrees_with_one_plain_pattern(text: str, delimiter: str) -> None:
    assert count_formula_cells(text, delimiter) == _reference(text, delimiter)


def test_a_block_without_such_cells_counts_none() -> None:
    rows = "".join(f'{i},user{i}@example.com,"Name {i}",2024-05-0{i % 9}\r\n' for i in range(50))
    assert count_formula_cells(rows, ",") == 0
    assert count_formula_cells(rows + '7,x@example.com,"=1+1",-3', ",") == 2
