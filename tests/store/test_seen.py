"""The duplicate detector stays correct when it spills from memory to a temporary file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.store.seen import Seen


def digest(number: int) -> bytes:
    return hashlib.blake2b(str(number).encode(), digest_size=16).digest()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=12), max_size=8), st.integers(0, 20))
def test_first_sightings_match_a_plain_set(chunks: list[list[int]], limit: int) -> None:
    seen = Seen(limit=limit)
    reference: set[int] = set()
    try:
        for chunk in chunks:
            expected = []
            for number in chunk:
                expected.append(number not in reference)
                reference.add(number)
            assert seen.fresh([digest(n) for n in chunk]) == expected
    finally:
        seen.close()


def test_spilling_keeps_memory_small_and_cleans_up() -> None:
    seen = Seen(limit=100)
    assert all(seen.fresh([digest(n) for n in range(100)]))
    assert seen.fresh([digest(n) for n in range(50, 150)]) == [False] * 50 + [True] * 50
    assert seen._set == set()  # everything moved to the temporary file
    assert seen._dir is not None
    directory = Path(seen._dir.name)
    assert directory.exists()
    seen.close()
    assert not directory.exists()
