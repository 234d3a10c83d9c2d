"""``Store.release``: every connection (and a pool's threads) closed, the store still open.

A process about to fork a worker (``prefcenter filter``) releases the store so that the
child inherits no connection and no thread; both processes then open their own on
their next question.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import StoreUnavailable
from prefcenter.model import Reason, Source


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "unmapped"])
def test_after_release_the_store_reads_and_writes_on_new_connections(
    open_center: Callable[..., PreferenceCenter], mapped: bool
) -> None:
    before = set(threading.enumerate())
    center = open_center()
    center.suppress("first@example.com", source=Source.IMPORT)
    center.store.release(mapped=mapped)
    # No thread of the store outlives the release (PostgreSQL's pool ran some).
    assert set(threading.enumerate()) <= before
    assert center.check("first@example.com").reason is Reason.UNSUBSCRIBED_GLOBAL
    center.suppress("second@example.com", source=Source.IMPORT)
    center.store.release(mapped=mapped)
    center.store.release(mapped=mapped)  # twice in a row: nothing to close the second time
    decision = center.check("second@example.com")
    assert decision.reason is Reason.UNSUBSCRIBED_GLOBAL
    assert center.check("third@example.com").allowed


def test_a_closed_store_stays_closed_after_release(
    open_center: Callable[..., PreferenceCenter],
) -> None:
    center = open_center()
    center.check("first@example.com")
    center.close()
    center.store.release()
    with pytest.raises(StoreUnavailable, match="closed"):
        center.check("first@example.com")
