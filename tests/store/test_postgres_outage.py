"""A PostgreSQL that stops and starts again under an open store: the next call works.

The pool reconnects in the background with exponential backoff (1, 2, 4 ... 64 s); left
at that, requests after a long outage failed for up to a minute after the server was
back, and the first requests after any restart got connections the server had closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from prefcenter.errors import StoreUnavailable
from prefcenter.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.mark.timeout(120)
def test_the_first_call_after_an_outage_works(
    own_postgres: tuple[str, Callable[[], None], Callable[[], None]],
) -> None:
    url, stop, start = own_postgres
    store = PostgresStore(url, fingerprint="f", timeout=2.0)

    def read() -> None:  # check's path: this thread's pinned connection, not the pool
        assert store.read(lambda session: session._one("SELECT 1")) == (1,)

    try:
        store.ping()
        read()
        stop()
        ended = time.monotonic() + 16  # long enough for the backoff to reach 8 s and more
        while time.monotonic() < ended:
            with pytest.raises(StoreUnavailable):
                store.ping()
            with pytest.raises(StoreUnavailable):
                read()
            time.sleep(0.5)
        start()
        store.ping()  # at once: not after the pool's next scheduled attempt
        read()
        stop()  # a quick restart: every pooled connection is now closed by the server
        start()
        for _ in range(5):
            store.ping()  # none of them is handed a dead connection
            read()
    finally:
        store.close()
