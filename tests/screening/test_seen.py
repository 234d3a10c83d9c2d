"""The duplicate detector stays correct when it spills from memory to a temporary file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.screening.seen import Seen


def digest(number: int) -> bytes:
    return hashlib.blake2b(str(number).encode(), digest_size=16).digest()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.one_of(st.none(), st.integers(0, 40)), max_size=12), max_size=8),
    st.integers(0, 20),
    st.booleans(),
)
def test_repeats_match_a_plain_set(
    chunks: list[list[int | None]], limit: int, shared: bool
) -> None:
    """Repeats are found within a chunk and across chunks, whether a repeat is an equal
    object or the same one passed again; None (invalid) never repeats."""
    seen = Seen(limit=limit)
    objects: dict[int, bytes] = {}
    reference: set[int] = set()
    try:
        for chunk in chunks:
            expected = []
            for index, number in enumerate(chunk):
                if number is None:
                    continue
                if number in reference:
                    expected.append(index)
                reference.add(number)
            hashes = [
                None if n is None else objects.setdefault(n, digest(n)) if shared else digest(n)
                for n in chunk
            ]
            assert seen.duplicates(hashes) == expected
    finally:
        seen.close()


def test_spilling_keeps_memory_small_and_cleans_up() -> None:
    seen = Seen(limit=100)
    assert seen.duplicates([digest(n) for n in range(100)]) == []
    assert seen.duplicates([digest(n) for n in range(50, 150)]) == list(range(50))
    assert seen._known == {None: None}  # everything moved to the temporary file
    assert seen._dir is not None
    directory = Path(seen._dir.name)
    assert directory.exists()
    seen.close()
    assert not directory.exists()
