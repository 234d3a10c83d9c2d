"""PostgreSQL read connections pinned to threads: ``check`` without a pool checkout per call.

A call through the pool pays for the checkout and the return (a lock each way, the
health check, the connection's own context), about as much client CPU as the
primary-key lookup it wraps. A thread that reads here keeps one pooled connection and
its read session between calls instead, as SQLite's store keeps a connection per thread.

Bounds: at most ``slots`` connections are pinned (half the pool, so writers always find
the other half); a thread beyond them reads through the pool as before. A pinned
connection is taken from the pool, so a process still holds at most ``POOL_SIZE``
connections. A connection the server closed (a restart, a failover) is found before the
statement runs, as the pool finds it (:func:`check_idle`), and replaced at once. A pinned
connection stays checked out until :meth:`PinnedReaders.close` (the store's ``close`` or
``release``) or until its thread has ended: a thread that needs a slot when all are
taken gives back the connections of ended threads first (thread pools end idle workers,
and their slots would otherwise stay taken for the process's life).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prefcenter.store.session import SqlSession


class Pinned:
    """One thread's connection, its read session and the lock :meth:`PinnedReaders.close`
    takes so that it never closes a connection in the middle of a statement (reentrant:
    a read inside a read, on the same thread, uses the same connection)."""

    __slots__ = ("alive", "conn", "lock", "owner", "pool", "session")

    def __init__(self, conn: Any, pool: Any, session: SqlSession) -> None:
        self.conn, self.pool, self.session = conn, pool, session
        self.owner = threading.current_thread()
        self.lock = threading.RLock()
        #: False once given back: the thread must pin another before reading.
        self.alive = True


class PinnedReaders:
    """The pinned connections of one store.

    Args:
        slots: most connections pinned at once (0: none, every read uses the pool).
        session: the backend's session on a connection.
    """

    def __init__(self, slots: int, session: Callable[[Any], SqlSession]) -> None:
        self._slots = slots
        self._session = session
        self._all: list[Pinned] = []
        self._lock = threading.Lock()

    def take(self, pool: Any) -> Pinned | None:
        """A new pinned connection from ``pool`` for the calling thread, or None when every
        slot is taken. Raises what ``pool.getconn`` raises."""
        with self._lock:
            if len(self._all) >= self._slots:
                ended = [pinned for pinned in self._all if not pinned.owner.is_alive()]
                for pinned in ended:  # no statement runs on an ended thread's connection
                    self._all.remove(pinned)
                    self._give_back(pinned)
                if not ended:
                    return None
            conn = pool.getconn()
            pinned = Pinned(conn, pool, self._session(conn))
            self._all.append(pinned)
            return pinned

    def drop(self, pinned: Pinned) -> None:
        """Give ``pinned`` back (a broken connection: the pool replaces it) and free its
        slot; the caller holds its lock."""
        with self._lock:
            if pinned in self._all:
                self._all.remove(pinned)
        self._give_back(pinned)

    def close(self) -> None:
        """Give every pinned connection back, each once no statement runs on it."""
        with self._lock:
            every, self._all = self._all, []
        for pinned in every:
            with pinned.lock:
                self._give_back(pinned)

    @staticmethod
    def _give_back(pinned: Pinned) -> None:
        if not pinned.alive:
            return
        pinned.alive = False
        try:
            pinned.pool.putconn(pinned.conn)
        except Exception:  # a pool that refuses it (closed, replaced): close it here
            pinned.conn.close()
