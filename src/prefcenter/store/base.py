"""What both backends share above the session: transactions, retries and the reports.

A backend supplies three things: ``_begin`` (a connection inside a write transaction,
with its errors translated), ``_read`` (a connection for reads) and ``_session`` (its
:class:`SqlSession` subclass). Everything else — joining nested transactions on one
thread, retrying a whole unit of work on lock conflicts, and the table scans behind
export and the reports — is written once here.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from prefcenter.errors import StoreBusy, StoreConflict
from prefcenter.model import Contact, Event, Suppression
from prefcenter.store.codes import KINDS, from_ms, to_ms
from prefcenter.store.protocol import NewEvent, Violation
from prefcenter.store.rows import (
    EVENT_COLUMNS,
    SUPPRESSION_COLUMNS,
    event_from_row,
    suppression_from_row,
)
from prefcenter.store.session import SqlSession

T = TypeVar("T")
PAGE = 5000
RETRIES = 5


def retry_conflicts(work: Callable[[], T]) -> T:
    """``work()``, run again (at most :data:`RETRIES` times in all, backing off) while it
    raises :class:`StoreConflict`: a deadlock or serialization failure that PostgreSQL
    ended by rolling the transaction back. ``work`` opens its own transaction, so each
    try starts from scratch. A lock that outlasted its wait (``StoreBusy``) is not
    retried here: the caller's own deadline already went into that wait.
    """
    for attempt in range(RETRIES - 1):
        try:
            return work()
        except StoreConflict:
            time.sleep(0.01 * 2**attempt)
    return work()


class SqlStore(ABC):
    """The shared half of the SQLite and PostgreSQL stores."""

    url: str

    def __init__(self) -> None:
        # Per instance, never module-level: two stores in one process stay independent.
        self._local = threading.local()

    # -- provided by the backend -------------------------------------------------
    @abstractmethod
    def _begin(self, durable: bool = True) -> AbstractContextManager[Any]:
        """A connection inside a write transaction that commits on exit (without waiting
        for the disk when not ``durable``: see :meth:`run`)."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A connection for reads."""

    @abstractmethod
    def _session(self, conn: Any) -> SqlSession:
        """This backend's session on ``conn``."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    def _after_forget(self) -> None:
        """Wipe old copies of pages after a transaction that forgot someone committed."""

    # -- sessions ----------------------------------------------------------------
    @contextmanager
    def bulk(self) -> Iterator[None]:
        """This thread's writes in between are an import's, in key order, a key range a
        transaction: the backend may keep less in memory (SQLite shrinks its page cache)."""
        yield

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[SqlSession]:
        current: SqlSession | None = getattr(self._local, "session", None)
        if current is not None and getattr(self._local, "writing", False):
            yield current  # nested: the outer transaction commits everything at once
            return
        with self._begin(durable) as conn:
            session = self._session(conn)
            self._local.session, self._local.writing = session, True
            try:
                yield session
            finally:
                self._local.session, self._local.writing = None, False
        if session.forgot:
            self._after_forget()

    @contextmanager
    def session(self) -> Iterator[SqlSession]:
        current: SqlSession | None = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with self._read() as conn:
            session = self._session(conn)
            self._local.session = session
            try:
                yield session
            finally:
                self._local.session = None

    def read(self, work: Callable[[SqlSession], T]) -> T:
        """``work(session)`` on a read session: :meth:`session` for one call, with less
        overhead (``check`` runs it once per recipient)."""
        current: SqlSession | None = getattr(self._local, "session", None)
        if current is not None:
            return work(current)
        with self._read() as conn:
            return work(self._session(conn))

    def run(self, work: Callable[[SqlSession], T], *, durable: bool = True) -> T:
        """Run ``work`` in one transaction; on a lock conflict retry the whole of it.

        ``durable=False`` commits without waiting for the disk (SQLite
        ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit = off``), for the webhook
        worker's bookkeeping only; see the protocol's ``Store.run``.
        """
        if getattr(self._local, "writing", False):
            with self.transaction() as session:
                return work(session)
        for attempt in range(RETRIES):
            try:
                with self.transaction(durable) as session:
                    return work(session)
            except StoreBusy:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def suppress_alone(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        """None: a backend that can write ``suppress_batch`` as one statement says so."""
        del items
        return None

    def ping(self) -> None:
        with self.session() as session:
            session._one("SELECT 1")

    # -- scans -------------------------------------------------------------------
    def export(self) -> Iterator[Suppression]:
        last: list[Any] = [b"", -1, b"", -1]
        base = (
            f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions s "
            "LEFT JOIN identities i ON i.hash = s.hash LEFT JOIN topics t ON t.digest = s.topic "
            "WHERE (s.hash, s.scope, s.topic, s.all_channels) > (?, ?, ?, ?) "
            f"ORDER BY s.hash, s.scope, s.topic, s.all_channels LIMIT {PAGE}"
        )
        while True:
            with self.session() as session:
                rows = session._rows(base, last)
            for row in rows:
                yield suppression_from_row(row)
            if len(rows) < PAGE:
                return
            last = [bytes(rows[-1][0]), rows[-1][2], bytes(rows[-1][3]), rows[-1][7]]

    def events(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[Event]:
        # Pages walk the time index (at, then id) from ``since``: paging by id alone
        # scanned every event before the period first (a month's report read the whole
        # log: 9 s at a million events). SQLite's index on ``at`` holds the rowid, and
        # PostgreSQL sorts each page's ties on ``at`` by id (incremental sort).
        low = to_ms(since) if since is not None else -(2**62)
        high = to_ms(until) if until is not None else 2**62
        at, after = low, -(2**62)
        while True:
            with self.session() as session:
                rows = session._rows(
                    f"SELECT {EVENT_COLUMNS} FROM events WHERE at >= ? AND at < ? "
                    f"AND (at > ? OR id > ?) ORDER BY at, id LIMIT {PAGE}",
                    [at, high, at, after],
                )
            for row in rows:
                yield event_from_row(row)
            if len(rows) < PAGE:
                return
            at, after = int(rows[-1][1]), int(rows[-1][0])

    def violations(self, grace: timedelta) -> list[Violation]:
        grace_ms = grace // timedelta(milliseconds=1)
        blocks = (
            "(s.scope = 0 OR (c.kind = 0 AND (s.scope = 1 OR (s.scope = 2 AND c.topic = s.topic))))"
        )
        contact = "c.hash, c.at, c.kind, c.topic, c.sender, c.message_id"
        joins = "LEFT JOIN identities i ON i.hash = s.hash LEFT JOIN topics t ON t.digest = s.topic"
        sql = (
            f"SELECT {SUPPRESSION_COLUMNS}, {contact} FROM suppressions s "
            f"JOIN contacts c ON c.hash = s.hash {joins} "
            f"WHERE c.at > s.created_at + ? AND {blocks} "
            f"UNION ALL SELECT {SUPPRESSION_COLUMNS}, {contact} FROM links l "
            f"JOIN suppressions s ON s.hash = l.group_id AND s.all_channels = 1 "
            f"JOIN contacts c ON c.hash = l.hash {joins} "
            f"WHERE l.hash <> l.group_id AND c.at > s.created_at + ? AND {blocks}"
        )
        with self.session() as session:
            rows = session._rows(sql, [grace_ms, grace_ms])
            names = {bytes(d): n for d, n in session._rows("SELECT digest, name FROM topics")}
        found = []
        for row in rows:
            suppression = suppression_from_row(row[:10])
            hash_hex = bytes(row[10]).hex()
            topic = bytes(row[13]) if row[13] else None
            found.append(
                Violation(
                    hash_hex,
                    suppression,
                    Contact(
                        identity_hash=hash_hex,
                        channel=suppression.channel,
                        topic=None if topic is None else names.get(topic, "#" + topic.hex()),
                        kind=KINDS[row[12]],
                        at=from_ms(row[11]),
                        sender=row[14],
                        message_id=row[15],
                    ),
                )
            )
        found.sort(key=lambda violation: violation.contact.at)
        return found

    def counts(self) -> dict[str, int]:
        queries = {
            "suppressions": "SELECT count(*) FROM suppressions",
            "events": "SELECT count(*) FROM events",
            "contacts": "SELECT count(*) FROM contacts",
            "linked_identities": "SELECT count(*) FROM links",
            "exceptions_open": "SELECT count(*) FROM exceptions WHERE status = 'open'",
            "machine_mail_kept": "SELECT count(*) FROM exceptions WHERE status = 'audit'",
            "bounce_evidence": "SELECT count(*) FROM events WHERE action = 'bounce'",
            "bounce_scored": "SELECT count(*) FROM events WHERE action = 'soft-bounce'",
        }
        now = to_ms(datetime.now().astimezone())
        with self.session() as session:
            result = {name: int(session._one(sql)[0]) for name, sql in queries.items()}
            result["exceptions_overdue"] = int(
                session._one(
                    "SELECT count(*) FROM exceptions WHERE status = 'open' AND due_at < ?", [now]
                )[0]
            )
        return result
