"""Pass two reads the next group from the spool in a thread while the store writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from prefcenter.esp.importer import _read_ahead


def _made_in(threads: list[int], count: int, fail_at: int | None = None) -> Iterator[int]:
    for number in range(count):
        threads.append(threading.get_ident())
        if number == fail_at:
            raise OSError(f"spool file {number} is gone")
        yield number


def test_every_item_in_order_each_made_outside_the_callers_thread() -> None:
    threads: list[int] = []
    assert list(_read_ahead(_made_in(threads, 50))) == list(range(50))
    assert len(threads) == 50
    assert threading.get_ident() not in threads


def test_a_failure_reaches_the_caller_after_the_items_before_it() -> None:
    items = _read_ahead(_made_in([], 10, fail_at=3))
    assert [next(items), next(items), next(items)] == [0, 1, 2]
    with pytest.raises(OSError, match="spool file 3 is gone"):
        next(items)


def test_no_thread_outlives_a_caller_that_stops_early() -> None:
    before = threading.active_count()
    items = _read_ahead(_made_in([], 10))
    assert next(items) == 0
    items.close()  # as when the store fails while writing a group
    assert threading.active_count() == before


def test_nothing_to_read() -> None:
    assert list(_read_ahead(iter([]))) == []
