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


def test_a_thread_keeps_its_connection_and_half_the_pool_at_most_is_pinned(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, fingerprint="f", max_size=4)
    try:
        mine = store.read(backend_pid)
        assert store.read(backend_pid) == mine  # pinned: the same server process
        first = in_thread(lambda: store.read(backend_pid))
        assert first != mine  # each thread its own: never shared
        # Both slots (half of 4) are taken; a third thread reads through the pool, and
        # writers still find connections there.
        third = in_thread(lambda: store.read(backend_pid))
        assert third not in (mine, first)
        store.run(lambda session: session._one("SELECT 1"))
        assert store.read(backend_pid) == mine
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
