"""PostgreSQL reads pinned to threads (``PostgresStore.read``): bounded, given back on
``release`` and ``close``, never sharing a connection between two threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from prefcenter.errors import StoreUnavailable
from prefcenter.store.postgres import PostgresStore
from prefcenter.store.session import SqlSession

pytestmark = pytest.mark.postgres


def backend_pid(session: SqlSession) -> int:
    return int(session._one("SELECT pg_backend_pid()")[0])


def in_thread(work: Any) -> Any:
    found: list[Any] = []
    thread = threading.Thread(target=lambda: found.append(work()))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return found[0]


class Reader:
    """A thread that reads once (its pid in ``pid``) and stays alive until ``end``."""

    def __init__(self, store: PostgresStore) -> None:
        self.done, self.ended = threading.Event(), threading.Event()
        self.pid = 0

        def run() -> None:
            self.pid = store.read(backend_pid)
            self.done.set()
            self.ended.wait(30)

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert self.done.wait(30)

    def end(self) -> None:
        self.ended.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_a_thread_keeps_its_connection_and_half_the_pool_at_most_is_pinned(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, fingerprint="f", max_size=4)
    first = None
    try:
        mine = store.read(backend_pid)
        assert store.read(backend_pid) == mine  # pinned: the same server process
        first = Reader(store)
        assert first.pid != mine  # each thread its own: never shared
        # Both slots (half of 4) are taken by live threads; a third thread reads through
        # the pool, and writers still find connections there.
        third = in_thread(lambda: store.read(backend_pid))
        assert third not in (mine, first.pid)
        store.run(lambda session: session._one("SELECT 1"))
        assert store.read(backend_pid) == mine
    finally:
        if first is not None:
            first.end()
        store.close()


def test_the_slot_of_an_ended_thread_is_given_to_the_next(postgres_url: str) -> None:
    """Thread pools end idle workers: their pinned connections must not stay taken."""
    store = PostgresStore(postgres_url, fingerprint="f", max_size=2)  # one slot
    try:
        for _ in range(5):  # each thread pins, then ends; the pool (2) never runs dry
            reader = Reader(store)
            reader.end()
        with store._pinned._lock:
            pinned = list(store._pinned._all)
        assert len(pinned) == 1 and not pinned[0].owner.is_alive()
        store.run(lambda session: session._one("SELECT 1"))  # a writer finds one
        later = Reader(store)
        try:
            with store._pinned._lock:
                assert [p.owner for p in store._pinned._all] == [later.thread]
        finally:
            later.end()
    finally:
        store.close()


def test_release_gives_pinned_connections_back_and_close_refuses_reads(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, fingerprint="f", max_size=2)
    try:
        before = store.read(backend_pid)
        store.release()
        after = store.read(backend_pid)  # a new connection from the reopened pool
        assert after != before
        assert store.read(backend_pid) == after
    finally:
        store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.read(backend_pid)


def test_a_store_of_one_connection_pins_none(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, fingerprint="f", max_size=1)
    try:
        assert store.read(lambda session: session._one("SELECT 1")) == (1,)
        store.run(lambda session: session._one("SELECT 1"))  # the pool's one is free
    finally:
        store.close()


def test_a_failing_statement_leaves_the_pinned_connection_usable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, fingerprint="f", max_size=2)
    try:
        mine = store.read(backend_pid)
        with pytest.raises(Exception, match="no_such_table"):
            store.read(lambda session: session._one("SELECT * FROM no_such_table"))
        assert store.read(backend_pid) == mine
    finally:
        store.close()


def test_a_read_inside_a_read_uses_the_same_connection(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, fingerprint="f", max_size=2)
    try:
        outer, inner = store.read(lambda session: (backend_pid(session), store.read(backend_pid)))
        assert outer == inner
    finally:
        store.close()
