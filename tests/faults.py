"""One typed fault-injecting store, for tests of what the sidecars do when writes fail.

Wrap an open store and hand it to ``PreferenceCenter(settings, store=...)``: everything is
delegated, and ``fail`` makes writes and pings raise ``StoreUnavailable`` the way the store
does when the database is gone; ``commit_delay`` holds every commit open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TypeVar

from prefcenter.errors import StoreConflict, StoreUnavailable
from prefcenter.model import Event, Suppression
from prefcenter.store.protocol import NewEvent, Session, Store, Violation

T = TypeVar("T")


class FaultyStore:
    """A :class:`Store` that fails or stalls on demand.

    Attributes:
        fail: writes (``transaction``, ``run``) and ``ping`` raise ``StoreUnavailable``.
        commit_delay: seconds every transaction is held open before it commits.
        busy: this many next transactions end in ``StoreConflict`` (a deadlock or
            serialization failure) after their body ran, and are rolled back.
        commits: transactions committed through this store.
        entered: set once a transaction has been entered (tests wait for "in a commit").
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.url = store.url
        self.fail = False
        self.commit_delay = 0.0
        self.busy = 0
        self.commits = 0
        self.entered = threading.Event()

    def _check(self) -> None:
        if self.fail:
            raise StoreUnavailable("Database 'test' cannot be written (injected); retry later.")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        self._check()
        with self._store.transaction() as session:
            self.entered.set()
            yield session
            if self.commit_delay:
                threading.Event().wait(self.commit_delay)
            if self.busy:  # a deadlock found at commit: everything written is rolled back
                self.busy -= 1
                raise StoreConflict(
                    "PostgreSQL store 'test' rolled it back (injected); run it again."
                )
        self.commits += 1

    def transaction(self) -> AbstractContextManager[Session]:
        return self._transaction()

    def session(self) -> AbstractContextManager[Session]:
        return self._store.session()

    def bulk(self) -> AbstractContextManager[None]:
        return self._store.bulk()

    def read(self, work: Callable[[Session], T]) -> T:
        return self._store.read(work)

    def run(self, work: Callable[[Session], T], *, durable: bool = True) -> T:
        self._check()
        return self._store.run(work, durable=durable)

    def suppress_alone(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        del items
        return None  # writes go through transaction(), where the faults are injected

    def ping(self) -> None:
        self._check()
        self._store.ping()

    def close(self) -> None:
        self._store.close()

    def release(self, *, mapped: bool = True) -> None:
        self._store.release(mapped=mapped)

    def export(self) -> Iterator[Suppression]:
        return self._store.export()

    def events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Event]:
        return self._store.events(since, until)

    def violations(self, grace: timedelta) -> list[Violation]:
        return self._store.violations(grace)

    def counts(self) -> dict[str, int]:
        return self._store.counts()
