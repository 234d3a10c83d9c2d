"""The embedded store: one SQLite file in WAL mode, for senders and sidecars on one host.

Writes are acknowledged only after a ``synchronous=FULL`` commit. Each thread gets its
own connection (kept on the store instance), writers take the lock up front with
``BEGIN IMMEDIATE`` and wait up to ``busy_timeout``; a lock that outlasts that raises
:class:`StoreBusy` and :meth:`run` retries the unit of work a few times.
"""

# ruff: noqa: S608
# Statements are built from constants here (CUT, row placeholders), never from input.
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from prefcenter.errors import StoreBusy, StoreUnavailable
from prefcenter.model import Action, Channel, Scope, Source
from prefcenter.store.base import SqlStore
from prefcenter.store.codes import CHANNEL_CODE, SCOPE_CODE, SOURCE_CODE, to_ms, topic_key
from prefcenter.store.imports import ImportGroup, sqlite_import
from prefcenter.store.protocol import NewEvent
from prefcenter.store.rows import Dialect
from prefcenter.store.schema import SQLITE_OUTBOX_TRIGGER, check_meta, sqlite_migrations
from prefcenter.store.session import SqlSession

BUSY_TIMEOUT_MS = 5000
#: How long close() waits for an interrupted statement to give its connection back.
_INTERRUPTED_GRACE_S = 2.0
log = logging.getLogger("prefcenter.store")
T = TypeVar("T")


class SqliteSession(SqlSession):
    """A chunk of hashes travels as one blob of 16-byte keys, cut apart inside SQLite."""

    def _match_many(self, hashes: Sequence[bytes]) -> tuple[str, list[Any]]:
        # One parameter instead of a temporary table: no executemany, no writes, and the
        # statement text stays the same for every chunk. Sorted keys walk the B-trees in
        # order, so consecutive probes hit cached pages.
        keys = sorted(hashes)
        blob = b"".join(keys)
        if len(blob) != HASH_SIZE * len(keys):
            raise ValueError(f"Identity hashes are {HASH_SIZE} bytes; got another length.")
        return CUT, [len(keys), blob]

    def remember_many(self, pairs: Sequence[tuple[bytes, str]]) -> None:
        """Keep the addresses beside their hashes with multi-row INSERTs (an import
        names thousands at once); a forgotten identity's row stays as it is."""
        values: list[Any] = []
        for identity_hash, address in pairs:
            values += (bytearray(identity_hash), address)
        _insert_rows(self.conn, BATCH_IDENTITY, values, len(pairs))

    def import_group(self, group: ImportGroup) -> dict[str, int]:
        return sqlite_import(self.conn, group)

    def sync_endpoints(self, urls: Sequence[str]) -> dict[str, int]:
        """As every backend does; and the outbox trigger exists exactly while an endpoint
        is active. Created or dropped in this transaction (SQLite's DDL is transactional
        and there is one writer at a time), so every event committed after the
        endpoints changed is seen by the trigger as it now is, and without endpoints an
        appended event runs no trigger at all."""
        found = super().sync_endpoints(urls)
        self.conn.execute(
            SQLITE_OUTBOX_TRIGGER if found else "DROP TRIGGER IF EXISTS events_outbox"
        )
        return found

    def suppress_batch(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        """Append every suppress event and add its suppression: a few multi-row INSERTs.

        ``items`` are (event, topic digest) of global or topic suppressions; the rows are
        those ``append_event`` and ``suppress`` write. When an event was already stored
        (a replay) or a suppression already existed (someone unsubscribing twice), the
        INSERTs are undone and the group is written again knowing who those are, so it
        answers per request what one ``suppress`` each would. Returns None, having
        written nothing, only if that second try did not hold either.
        """
        events, suppressions = _rows(items)
        conn = self.conn
        # On an error the whole transaction rolls back, savepoint included.
        conn.execute("SAVEPOINT suppress_batch")
        complete = _insert_rows(conn, BATCH_EVENT, events, len(items))
        if complete:
            complete = _insert_rows(conn, BATCH_SUPPRESSION, suppressions, len(items))
        written: list[bool] | None = [True] * len(items)
        if not complete:
            conn.execute("ROLLBACK TO suppress_batch")
            written = self._insert_new(items, events, suppressions)
            if written is None:
                conn.execute("ROLLBACK TO suppress_batch")
        conn.execute("RELEASE suppress_batch")
        return written

    def _insert_new(
        self, items: Sequence[tuple[NewEvent, bytes]], events: list[Any], suppressions: list[Any]
    ) -> list[bool] | None:
        """Write the rows of ``items`` that are new, in order; one result per item.

        An item whose event is stored (or came earlier in ``items``) is a replay: False,
        nothing written. Otherwise its event is written, and its suppression unless one
        exists (or an earlier item added it): True only when the suppression is new.
        """
        _, params = self._match_many(list({event.identity_hash for event, _ in items}))
        seen_events: set[tuple[Any, ...]] = set(self.conn.execute(STORED_EVENTS, params))
        seen_rules: set[tuple[Any, ...]] = set(self.conn.execute(STORED_SUPPRESSIONS, params))
        results: list[bool] = []
        new_events: list[Any] = []
        new_rules: list[Any] = []
        for index, (event, _) in enumerate(items):
            event_row = events[index * _EVENT_WIDTH : (index + 1) * _EVENT_WIDTH]
            rule_row = suppressions[index * _RULE_WIDTH : (index + 1) * _RULE_WIDTH]
            if event.evidence is not None:  # NULL evidence never repeats an event
                action, scope, topic = event_row[3], event_row[5], event_row[6]
                key = (event.identity_hash, action, scope, topic, event.detail, event.evidence)
                if key in seen_events:
                    results.append(False)
                    continue
                seen_events.add(key)
            new_events += event_row
            rule = (event.identity_hash, rule_row[1], bytes(rule_row[2]))
            added = rule not in seen_rules
            results.append(added)
            if added:
                seen_rules.add(rule)
                new_rules += rule_row
        written = _insert_rows(self.conn, BATCH_EVENT, new_events, len(new_events) // _EVENT_WIDTH)
        if written:
            rules = len(new_rules) // _RULE_WIDTH
            written = _insert_rows(self.conn, BATCH_SUPPRESSION, new_rules, rules)
        return results if written else None


def _rows(items: Sequence[tuple[NewEvent, bytes]]) -> tuple[list[Any], list[Any]]:
    """The event rows and suppression rows of ``items``, flat, as multi-row INSERTs take them."""
    events: list[Any] = []
    suppressions: list[Any] = []
    last_at: datetime | None = None
    at = 0
    for event, digest in items:
        if event.at is not last_at:  # one clock reading for a whole group
            last_at = event.at
            at = to_ms(last_at)
        scope = event.scope or Scope.GLOBAL
        channel = event.channel or Channel.EMAIL
        requested = None if event.requested_at is None else to_ms(event.requested_at)
        # sqlite3 binds int, str and bytearray at once but looks bytes and None up in its
        # adapter registry first (about 1 µs each), so the keys go as bytearray: the same
        # BLOB, on the commit thread's GIL-holding path.
        key = bytearray(event.identity_hash)
        events += (
            at, key, _VALUES[channel], _VALUES[event.action],
            _VALUES[event.source], _VALUES[scope], event.topic or "", event.reason,
            event.evidence, requested, event.detail,
        )  # fmt: skip
        suppressions += (
            key, SCOPE_CODE[scope], bytearray(topic_key(digest)), CHANNEL_CODE[channel],
            0, at, SOURCE_CODE[event.source], event.reason,
        )  # fmt: skip
    return events, suppressions


#: Enum values by member: a dict lookup instead of the ``.value`` descriptor per row.
_VALUES: dict[Any, str] = {
    member: member.value for kind in (Action, Channel, Scope, Source) for member in kind
}

#: The statements of ``SqlSession.append_event`` and ``SqlSession.suppress`` as (head,
#: one row's placeholders, tail), for many rows at once: each statement's row count says
#: how many were written, as RETURNING would (``_insert_rows``).
BATCH_EVENT = (
    "INSERT INTO events(at, hash, channel, action, source, scope, topic, reason, evidence, "
    "requested_at, detail) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    " ON CONFLICT DO NOTHING",
)
BATCH_IDENTITY = (
    "INSERT INTO identities(hash, address) VALUES ",
    "(?, ?)",
    " ON CONFLICT DO NOTHING",
)
BATCH_SUPPRESSION = (
    "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, source, "
    "reason) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?)",
    " ON CONFLICT DO NOTHING",
)
#: Most rows in one INSERT: 64 rows of 11 parameters stay below 999, the limit of
#: SQLite builds before 3.32.
_ROWS_PER_INSERT = 64
#: Row counts go out as a multiple of this plus a remainder: few distinct statement
#: texts (all stay in the connection's statement cache), two statements per group.
_ROW_STEP = 8
#: Parameters per row of each statement.
_EVENT_WIDTH = 11
_RULE_WIDTH = 8


def _insert_rows(
    conn: sqlite3.Connection, statement: tuple[str, str, str], values: list[Any], rows: int
) -> bool:
    """Insert ``rows`` rows (``values`` flat) with multi-row VALUES; True when all were written.

    One statement runs as one ``sqlite3_step``: the commit thread gives up and takes back
    the GIL once per statement instead of once per row (``executemany``), and under load
    every take-back waits for the event loop. The rows are counted with each statement's
    own count (``sqlite3_changes``), not ``total_changes``, which also counts what
    triggers write: the webhook outbox's trigger adds a row per event (issue 23).
    """
    head, row, tail = statement
    width = len(values) // rows if rows else 0
    written = 0
    start = 0
    while start < rows:
        count = min(rows - start, _ROWS_PER_INSERT)
        if count >= _ROW_STEP:
            count -= count % _ROW_STEP
        parameters = values if count == rows else values[start * width : (start + count) * width]
        written += conn.execute(head + ", ".join([row] * count) + tail, parameters).rowcount
        start += count
    return written == rows


HASH_SIZE = 16
#: Page cache of each connection, in KiB.
CACHE_KIB = 65536
#: Page cache of a connection while it writes an import (``SqliteStore.bulk``), in KiB.
BULK_CACHE_KIB = 16384
#: Page cache of a connection opened after ``release(mapped=False)``, in KiB: such a
#: reader (``prefcenter filter``) goes through much of a large store once, in key order,
#: so it keeps the B-trees' upper levels (about 4 MiB at 10M suppressions) and little
#: else. 64 MiB in each of its two processes had made a fifth of the command's memory
#: (502 against 381 MB, the peak PSS of both in ``bench_scale``: 1M rows against 10M)
#: at the same speed.
SCAN_CACHE_KIB = 8192
#: Bytes of the database file mapped for reading (SQLite maps the first this many). The
#: mapped pages are the kernel's page cache, shared and reclaimable, not the process's
#: own memory; they count in its RSS once touched.
MMAP_BYTES = 4 << 30
#: Pause between tries to switch a file other processes are opening to WAL.
_WAL_SWITCH_RETRY_S = 0.01
#: WAL pages between automatic checkpoints (64 MiB of 4 KiB pages). Against SQLite's
#: 1,000, one-click group commits ran 10-15 % faster at 4,000; at 16,000 the commit
#: path spends 8-15 % less CPU again than at 4,000, with the same p99.
WAL_CHECKPOINT_PAGES = 16000
CUT = (
    "IN (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
    "SELECT substr(?, i * 16 + 1, 16) FROM n)"
)

#: The event keys and the suppressions (all but person-wide) of a group's people.
STORED_EVENTS = (
    "SELECT hash, action, scope, topic, detail, evidence FROM events "
    "WHERE evidence IS NOT NULL AND hash " + CUT
)
STORED_SUPPRESSIONS = (
    "SELECT hash, scope, topic FROM suppressions WHERE all_channels = 0 AND hash " + CUT
)


def translate(
    error: BaseException, path: str, waited_ms: int = BUSY_TIMEOUT_MS
) -> StoreUnavailable:
    """A database error as the exception callers handle: busy (retry) or unavailable."""
    text = str(error)
    if _busy(error):
        return StoreBusy(
            f"SQLite database {path!r} stayed locked past {waited_ms} ms ({text}); "
            "retry later or move busy deployments to PostgreSQL."
        )
    return StoreUnavailable(
        f"SQLite database {path!r} cannot be used ({text}); check the disk, the file's "
        "permissions and free space, then retry."
    )


class SqliteStore(SqlStore):
    """A store in one SQLite file.

    Args:
        path: the database file; its directory is created if missing.
        fingerprint: the pepper fingerprint; a file made with another one is refused.
        busy_timeout_ms: how long a writer waits for the lock before StoreBusy.
    """

    def __init__(
        self, path: str | Path, *, fingerprint: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        super().__init__()
        self.busy_timeout_ms = busy_timeout_ms
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.dialect = Dialect(name="sqlite", placeholder="?", blob="BLOB")
        # Every connection with its guard: held while a thread works on the connection,
        # so close() never frees one under a statement (an abandoned worker thread).
        self._opened: list[tuple[sqlite3.Connection, threading.RLock]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._map_bytes = MMAP_BYTES
        created = not Path(self.path).exists()
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if created:
                _create_private(self.path)
        except OSError as error:
            raise StoreUnavailable(
                f"Cannot create SQLite database {self.path!r} or its directory ({error}); "
                "create the directory or fix DATABASE."
            ) from None
        self._enter_wal(self._connection())
        with self._begin() as conn:
            sqlite_migrations.apply(conn)
            check_meta(self._session(conn), fingerprint, self.url)
        if created:  # said aloud: a mistyped DATABASE gives an empty store
            log.warning("created a new, empty store at %s", Path(self.path).resolve())

    def _enter_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode, waiting up to ``busy_timeout_ms`` for other openers.

        Processes opening a new file at the same moment all try to switch it; the lock
        upgrade that needs can deadlock, and SQLite then answers "locked" at once
        instead of calling its busy handler. So the wait happens here.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.Error as error:
                busy = isinstance(error, sqlite3.OperationalError) and _busy(error)
                if not busy or time.monotonic() >= deadline:
                    raise translate(error, self.path, self.busy_timeout_ms) from None
            time.sleep(_WAL_SWITCH_RETRY_S)

    def _connection(self) -> sqlite3.Connection:
        return self._lease(self._local)[0]

    def _lease(self, local: threading.local) -> tuple[sqlite3.Connection, threading.RLock]:
        """This thread's connection and its guard, opened on first use."""
        lease: tuple[sqlite3.Connection, threading.RLock] | None = getattr(local, "lease", None)
        if lease is not None:
            return lease
        if self._closed:
            raise StoreUnavailable(f"Store {self.url!r} is closed; open a new one.")
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            # Durability first: an acknowledged opt-out survives a power cut.
            conn.execute("PRAGMA synchronous=FULL")
            # Privacy: deleted or overwritten content (an erased address) is zeroed on disk.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA temp_store=MEMORY")
            cache_kib = CACHE_KIB if self._map_bytes else SCAN_CACHE_KIB
            conn.execute(f"PRAGMA cache_size=-{cache_kib}")
            # Checkpoint every WAL_CHECKPOINT_PAGES instead of SQLite's 1,000: random-keyed
            # indexes dirty a page per row, and a longer interval copies a page that
            # several commits changed back into the database once.
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            # Reads through a memory map of the file (writes still go through the WAL and
            # its fsync): past the page cache, a lookup copied pages in with a system
            # call each, 22-32 us a probe in an 8M-row table against 2 us mapped, which
            # made filter against 10M suppressions ten times slower than against 1M.
            conn.execute(f"PRAGMA mmap_size={self._map_bytes}")
        except sqlite3.Error as error:
            raise translate(error, self.path, self.busy_timeout_ms) from None
        lease = (conn, threading.RLock())
        with self._lock:
            if not self._closed:
                self._opened.append(lease)
                local.lease = lease
                return lease
        conn.close()  # closed while this one was opening
        raise StoreUnavailable(f"Store {self.url!r} is closed; open a new one.")

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, guarded against :meth:`close` for the duration."""
        conn, guard = self._lease(self._local)
        with guard:
            if self._closed:
                raise StoreUnavailable(f"Store {self.url!r} is closed; open a new one.")
            yield conn

    def _session(self, conn: Any) -> SqlSession:
        return SqliteSession(conn, self.dialect)

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """An import's writes keep :data:`BULK_CACHE_KIB` of page cache on this thread's
        connection: each transaction covers one narrow range of keys, whose pages fit, and
        the import's memory stays the same however long its file (64 MiB of cache filled
        up as the tables grew: 131 MB at 100,000 rows, 154 MB at 500,000, against 101 and
        106 MB with 16 MiB, at the same speed)."""
        with self._using() as conn:
            conn.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
        try:
            yield
        finally:
            with self._using() as conn:
                conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")

    @contextmanager
    def _begin(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        local = self._local
        with self._using() as conn:
            # The level can change only between transactions: NORMAL just for this one,
            # FULL again right after, and before any durable one if that failed.
            try:
                if not durable:
                    local.relaxed = True
                    conn.execute("PRAGMA synchronous=NORMAL")
                elif getattr(local, "relaxed", False):
                    conn.execute("PRAGMA synchronous=FULL")
                    local.relaxed = False
            except sqlite3.Error as error:
                raise translate(error, self.path, self.busy_timeout_ms) from None
            try:
                yield from self._write(conn)
            finally:
                if not durable:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA synchronous=FULL")
                        local.relaxed = False

    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._failed_write(conn, error) from None
        try:
            yield conn
        except BaseException as failure:
            _rollback(conn)
            if _unavailable(failure):
                raise self._failed_write(conn, failure) from None
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            _rollback(conn)
            raise self._failed_write(conn, error) from None

    def _failed_write(self, conn: sqlite3.Connection, error: BaseException) -> Exception:
        """The error to raise for a write that failed; a read-only connection is let go.

        SQLite opens the file read-only, silently and for the connection's whole life,
        when it cannot open it for writing (a read-only mount, an immutable file): a
        thread whose first call came during such an outage would refuse every write
        after it ended. Dropping the connection makes the next call open a writable one.
        """
        if _read_only(error):
            self._let_go(conn)
        return translate(error, self.path, self.busy_timeout_ms)

    def _let_go(self, conn: sqlite3.Connection) -> None:
        """Forget this thread's connection ``conn`` (held by this thread: no statement runs)."""
        local = self._local
        lease = getattr(local, "lease", None)
        if lease is None or lease[0] is not conn:
            return
        with self._lock:
            if lease in self._opened:
                self._opened.remove(lease)
        for name in ("lease", "reader", "relaxed"):
            local.__dict__.pop(name, None)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # Autocommit: each read is one statement and so one consistent snapshot.
        with self._using() as conn:
            try:
                yield conn
            except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:
                _rollback(conn)
                if not _unavailable(error):
                    raise
                raise translate(error, self.path, self.busy_timeout_ms) from None
            except BaseException:
                _rollback(conn)
                raise

    def read(self, work: Callable[[SqlSession], T]) -> T:
        """:meth:`SqlStore.read` without a context manager per call: ``check``'s hot path.

        The thread's connection keeps one read session; errors are handled as in
        :meth:`_read`.
        """
        current: SqlSession | None = getattr(self._local, "session", None)
        if current is not None:
            return work(current)
        local = self._local
        reader: SqlSession | None = getattr(local, "reader", None)
        if reader is None:
            reader = local.reader = self._session(self._lease(local)[0])
        with local.lease[1]:
            if self._closed:
                raise StoreUnavailable(f"Store {self.url!r} is closed; open a new one.")
            try:
                return work(reader)
            except BaseException as failure:
                _rollback(reader.conn)
                if _unavailable(failure):
                    raise translate(failure, self.path, self.busy_timeout_ms) from None
                raise

    def _after_forget(self) -> None:
        # The WAL still holds old page images with the erased address; copy the current
        # pages back and truncate it. A reader mid-snapshot makes this wait (busy timeout)
        # or give up; the next forget or SQLite's own checkpoint then finishes the job.
        with contextlib.suppress(sqlite3.Error), self._using() as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        """Close every connection, each once no thread works on it.

        A thread still inside a statement (a request abandoned after STORE_TIMEOUT) is
        given the busy timeout to finish, then interrupted; freeing a connection under a
        running statement would crash the process.
        """
        self._close_connections(closed=True)

    def release(self, *, mapped: bool = True) -> None:
        """Close every connection; the next call opens a new one, memory-mapped or not
        (see ``Store.release``)."""
        self._close_connections(closed=False)
        self._map_bytes = MMAP_BYTES if mapped else 0

    def _close_connections(self, *, closed: bool) -> None:
        with self._lock:
            self._closed = self._closed or closed
            opened, self._opened = self._opened, []
        self._local = threading.local()
        for conn, guard in opened:
            if not guard.acquire(timeout=self.busy_timeout_ms / 1000):
                conn.interrupt()
                if not guard.acquire(timeout=_INTERRUPTED_GRACE_S):
                    log.warning("a connection to %s is still in use; left to its thread", self.url)
                    continue
            try:
                conn.close()
            finally:
                guard.release()


def _create_private(path: str) -> None:
    """Create an empty database file only its owner can read (0600).

    It holds clear addresses; SQLite would create it with the umask's mode (often
    world-readable), and gives its -wal and -shm files the mode of the database.
    Another process creating it first is fine: that file is used as it is.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # A broken connection has lost the transaction already.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _busy(error: BaseException) -> bool:
    """The lock is held by another connection (as opposed to a broken file or disk)."""
    text = str(error)
    return "locked" in text or "busy" in text


def _read_only(error: BaseException) -> bool:
    """SQLITE_READONLY or one of its extended codes (the low byte is the primary code)."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_READONLY


def _unavailable(error: BaseException) -> bool:
    """Errors of the disk or the lock, as opposed to bugs (integrity, programming)."""
    return type(error) in (sqlite3.OperationalError, sqlite3.DatabaseError)
