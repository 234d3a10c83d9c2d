"""Splitting a block on the delimiter gives exactly csv's records, or declines.

``split_block`` is the fast reader behind ``prefcenter filter``: whenever it answers
(rather than returning None so that csv parses the block), its records and address
fields must be csv's own, whatever mix of quotes, delimiters and line breaks the block
holds. A small alphabet makes hypothesis hit the quoting corner cases often.
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prefcenter.screening.csv.blocks import bare_cr, split_block


def csv_records(joined: str, delimiter: str) -> list[list[str]]:
    text = io.StringIO(joined + "\n", newline="")
    return list(csv.reader(text, delimiter=delimiter, strict=False))


@given(
    joined=st.text(alphabet='a@,;" \n\r', max_size=60),
    delimiter=st.sampled_from(",;"),
    index=st.integers(0, 3),
)
@settings(max_examples=2000, deadline=None)
def test_a_split_block_is_what_csv_reads(joined: str, delimiter: str, index: int) -> None:
    assume(not bare_cr(joined, terminated=True))
    split = split_block(joined, delimiter, index)
    if split is None:
        return  # csv parses this block instead
    lines, values, blank = split
    records = csv_records(joined, delimiter)
    raw_lines = joined.split("\n")
    assert len(records) == len(raw_lines)  # one record per line
    assert blank == records.count([])
    assert lines == [line for line, row in zip(raw_lines, records, strict=True) if row]
    assert values == [row[index] if index < len(row) else "" for row in records if row]


@pytest.mark.parametrize(
    ("joined", "index", "values"),
    [
        ('1,a@b.example,"Name, 1",s1\n2,c@d.example,"",s2', 1, ["a@b.example", "c@d.example"]),
        ('a@b.example,"x"\r\nc@d.example,"y"', 0, ["a@b.example", "c@d.example"]),
        ('a@b.example;"x;y";"z"', 0, ["a@b.example"]),
    ],
)
def test_quoted_fields_after_the_address_are_split(
    joined: str, index: int, values: list[str]
) -> None:
    delimiter = ";" if ";" in joined else ","
    split = split_block(joined, delimiter, index)
    assert split is not None
    assert split[1] == values


@pytest.mark.parametrize(
    "joined",
    [
        '1,"a@b.example",x',  # the address itself is quoted
        '"1,2",a@b.example',  # a quoted field before the address
        '1,a@b.example,"open\nclose"',  # a quoted line break
        '1,a@b.example,b"c,"d',  # a literal quote, then a field csv opens
        '1,a@b.example,"say ""hi"""',  # doubled quotes
    ],
)
def test_other_quoting_is_left_to_csv(joined: str) -> None:
    assert split_block(joined, ",", 1) is None
