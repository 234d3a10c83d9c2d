"""The shared store: PostgreSQL through psycopg 3 and a connection pool, for many hosts.

Concurrency relies on ``INSERT ... ON CONFLICT`` at READ COMMITTED; the few changes that
read before they write across rows (person groups) take a transaction-scoped advisory
lock. Serialization failures and deadlocks raise :class:`StoreBusy`, which
:meth:`run` retries; any connection failure raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from prefcenter.errors import StoreBusy, StoreConflict, StoreMisconfigured, StoreUnavailable
from prefcenter.store.base import RETRIES, SqlStore
from prefcenter.store.codes import topic_key
from prefcenter.store.imports import ImportGroup, postgres_import
from prefcenter.store.pinned import Pinned, PinnedReaders
from prefcenter.store.protocol import NewEvent
from prefcenter.store.rows import Dialect, Present
from prefcenter.store.schema import check_meta, postgres_migrations
from prefcenter.store.session import SqlSession
from prefcenter.store.sqlite import _rows as _sqlite_rows

try:  # optional dependency: prefcenter[postgres]
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]
    psycopg_pool = None  # type: ignore[assignment]

T = TypeVar("T")

# Arbitrary constants naming prefcenter's advisory locks.
LINK_LOCK = 0x70726566
MIGRATE_LOCK = 0x70726567
POOL_TIMEOUT = 10.0
#: Seconds the pool keeps retrying a lost connection in the background.
RECONNECT_TIMEOUT = 3.0


class PostgresSession(SqlSession):
    """Chunks of hashes travel as one ``bytea[]`` parameter."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        super().__init__(conn, dialect)
        self._cursor: Any = None

    def _fetch_rules(self, sql: str, params: list[Any]) -> list[Any]:
        # One cursor for the session's life: a session pinned to a reading thread
        # (``PostgresStore.read``) runs ``check``'s statement on it call after call, and
        # building a cursor per statement cost as much client CPU as the lookup itself.
        cursor = self._cursor
        if cursor is None or cursor.closed:
            cursor = self._cursor = self.conn.cursor()
        rows: list[Any] = cursor.execute(sql, params).fetchall()
        return rows

    def _match_many(self, hashes: Sequence[bytes]) -> tuple[str, list[Any]]:
        # A semi-join on the unnested array, not ``= ANY(array)``: for a filter's chunk
        # of 10,000 hashes the planner costed ``= ANY`` as a scan of the whole table
        # (a parallel sequential scan: 0.4 s a chunk at a million suppressions, ten
        # times that at ten million); unnest is estimated at 100 rows, so each hash is
        # one primary-key probe and a chunk costs the same whatever the store's size.
        # ``%b``: the array goes in binary; psycopg's text form escapes every byte of
        # every hash in Python (2.4 µs a hash against 0.3, measured on 23,000-hash chunks).
        return "IN (SELECT unnest(%b::bytea[]))", [list(hashes)]

    def blocks_many(
        self, hashes: Sequence[bytes], *, topic: bytes, marketing: bool, present: Present
    ) -> dict[bytes, int]:
        """As :meth:`SqlSession.blocks_many`; many hashes at once (a list filter's window)
        are copied into a temporary table and merged with the key in order.

        Probed one by one through an array, each hash costs an index descent (4-7 µs of
        server CPU at ten million suppressions). Copied in binary, analysed (so the
        planner knows how many there are) and joined on the key within the range they
        span, they are one merge join over that stretch of the index: cheaper when the
        hashes are dense in it (at most :data:`MERGE_ROWS_PER_HASH` entries apart, from
        the table's estimated size), which is when they are staged (docs/store.md).
        """
        if not hashes or len(hashes) < STAGE_MIN:
            return super().blocks_many(hashes, topic=topic, marketing=marketing, present=present)
        # The server sorts them for the merge (in C, where Python's sort costs the
        # client about half a microsecond a hash); only the range is found here.
        low, high = min(hashes), max(hashes)
        if self._merged_rows(low, high) > MERGE_ROWS_PER_HASH * len(hashes):
            return super().blocks_many(hashes, topic=topic, marketing=marketing, present=present)
        self._stage(hashes)
        sql = STAGED_BLOCKS + (STAGED_LINKS if present.links else "") + STAGED_CODES
        coded = [int(marketing), topic_key(topic)]
        args = [*coded, low, high, *(coded if present.links else [])]
        return {bytes(value): code for value, code in self.conn.execute(sql, args)}

    def _merged_rows(self, low: bytes, high: bytes) -> float:
        """About how many suppressions a merge from ``low`` to ``high`` passes: the
        table's estimated rows (0 before its first analysis) times the share of the key
        space between them (hashes are uniform)."""
        found = self.conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'suppressions'::regclass"
        ).fetchone()
        rows = max(0.0, float(found[0])) if found else 0.0
        share = (int.from_bytes(high[:8], "big") - int.from_bytes(low[:8], "big") + 1) / 2**64
        return rows * share

    def _stage(self, keys: Sequence[bytes]) -> None:
        """``keys`` (16 bytes each) into this connection's temporary table, analysed."""
        data = b"".join([_ROW + key for key in keys])
        if len(data) != (len(_ROW) + HASH_SIZE) * len(keys):
            raise ValueError(f"Identity hashes are {HASH_SIZE} bytes; got another length.")
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS staged_hashes(hash BYTEA NOT NULL)")
        conn.execute("TRUNCATE staged_hashes")
        with conn.cursor().copy("COPY staged_hashes(hash) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_COPY_HEADER + data + _COPY_TRAILER)
        conn.execute("ANALYZE staged_hashes")

    def remember_many(self, pairs: Sequence[tuple[bytes, str]]) -> None:
        """Keep the addresses beside their hashes: one ``INSERT ... FROM unnest`` (an
        import names thousands at once), in key order like ``suppress_batch``; a
        forgotten identity's row stays as it is."""
        if not pairs:
            return
        ordered = sorted(pairs)
        self.conn.execute(
            BATCH_IDENTITIES,
            [[pair[0] for pair in ordered], [pair[1] for pair in ordered]],
            binary=True,
        )

    def import_group(self, group: ImportGroup) -> dict[str, int]:
        return postgres_import(self.conn, group)

    def suppress_batch(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        """Append every suppress event and add its suppression: one statement in all.

        What ``append_event`` and ``suppress`` write one request at a time (three round
        trips each), as one ``INSERT ... SELECT FROM unnest(...)`` per table in one
        statement (:data:`SUPPRESS_BATCH`), in key order (so two sidecars inserting the
        same people take their row locks in the same order). An event already stored is
        a replay (False, and its suppression is not written); a suppression already
        stored answers False. Returns None, having written nothing, when one key appears
        twice in the group (the caller then goes one by one, which decides which of the
        two came first).
        """
        batch = suppress_parameters(items)
        if batch is None:
            return None
        return batch.results(self.conn.execute(SUPPRESS_BATCH, batch.parameters, binary=True))


class SuppressBatch:
    """The parameters of :data:`SUPPRESS_BATCH` for a group, and how to read its answer."""

    def __init__(self, parameters: list[list[Any]], order: list[int]) -> None:
        self.parameters = parameters
        self._order = order

    def results(self, rows: Any) -> list[bool]:
        """One result per item, in the caller's order: True where a suppression was added
        (the statement answers (ordinality, added) for each new event only)."""
        result = [False] * len(self._order)
        for number, added in rows:
            result[self._order[number - 1]] = bool(added)
        return result


#: Hashes asked about at once from which ``blocks_many`` stages them in a temporary
#: table (a list filter's window) rather than probing the key once per hash.
STAGE_MIN = 50_000
#: Index entries the merge may pass per hash asked about before probing is cheaper
#: (measured at ten million suppressions: 10 a hash, 1.9-2.4 µs of server CPU a hash
#: against 5-7 probing; 20, 3.8-4.5 against 4.3-6; 100, 23 against 7-8: about 0.2 µs
#: an entry passed, so even at about 25).
MERGE_ROWS_PER_HASH = 25
HASH_SIZE = 16
#: Binary COPY: the signature, flags and header extension; each row's field count and
#: length (one 16-byte field); the end marker.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_ROW = b"\x00\x01\x00\x00\x00\x10"
_COPY_TRAILER = b"\xff\xff"
_CODE = (
    "CASE WHEN s.scope = 0 THEN 0 WHEN %s = 0 THEN 9 WHEN s.scope = 1 THEN 1 "
    "WHEN s.scope = 2 AND s.topic = %s THEN 2 ELSE 9 END"
)
#: ``blocks_sql`` over the staged hashes. The key is bounded by the first and last
#: hash, so the merge join reads only that stretch of the index (unbounded, a window of
#: the upper half would scan the index from its start); the code is filtered after
#: grouping, so it is not computed for every index entry the merge passes.
STAGED_BLOCKS = (
    f"SELECT hash, min(code) FROM (SELECT a.hash, {_CODE} AS code FROM staged_hashes a "  # noqa: S608
    "JOIN suppressions s ON s.hash = a.hash WHERE s.hash BETWEEN %s AND %s"
)
STAGED_LINKS = (
    f" UNION ALL SELECT a.hash, {_CODE} AS code FROM staged_hashes a "  # noqa: S608
    "JOIN links l ON l.hash = a.hash JOIN suppressions s ON s.hash = l.group_id "
    "WHERE s.all_channels = 1 AND l.group_id <> l.hash"
)
STAGED_CODES = ") AS found GROUP BY hash HAVING min(code) < 9"


def suppress_parameters(items: Sequence[tuple[NewEvent, bytes]]) -> SuppressBatch | None:
    """:data:`SUPPRESS_BATCH`'s column arrays for ``items`` in key order, or None when an
    event's or a suppression's key appears twice among them."""
    events, rules = _sqlite_rows(items)
    count = len(items)
    event_keys = {_event_key(events, index) for index in range(count)}
    rule_keys = {_rule_key(rules, index) for index in range(count)}
    if len(event_keys) < count or len(rule_keys) < count:
        return None
    order = sorted(range(count), key=lambda index: bytes(items[index][0].identity_hash))
    columns: list[list[Any]] = [[] for _ in range(15)]
    for index in order:
        row = events[index * 11 : index * 11 + 11]
        rule = rules[index * 8 : index * 8 + 8]
        # The suppression's own columns; its hash, time and reason are the event's.
        row += (rule[1], rule[2], rule[3], rule[6])
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return SuppressBatch(columns, order)


#: ``SqlSession.append_event`` and ``SqlSession.suppress`` for many rows in one statement:
#: the columns as arrays, one per parameter, sent in binary (``%b``: psycopg's text form
#: escapes every element with a regex). The events go in first; only the rows whose
#: event was new (joined back on the event's unique key) become suppressions. The answer
#: is (ordinality, suppression added) for each new event. One statement instead of two
#: (and, run on its own, no BEGIN and COMMIT: ``PostgresStore.suppress_alone``) halves
#: the client's CPU per group commit (measured: 381 -> 218 us for 16 rows).
SUPPRESS_BATCH = (
    "WITH input AS (SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::text[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[], "
    "%b::smallint[], %b::bytea[], %b::smallint[], %b::smallint[]) WITH ORDINALITY "
    "AS i(at, hash, channel, action, source, scope, topic, reason, evidence, requested_at, "
    "detail, rule_scope, rule_topic, rule_channel, rule_source, n)), "
    "new_events AS (INSERT INTO events(at, hash, channel, action, source, scope, topic, "
    "reason, evidence, requested_at, detail) SELECT at, hash, channel, action, source, scope, "
    "topic, reason, evidence, requested_at, detail FROM input ORDER BY n "
    "ON CONFLICT DO NOTHING RETURNING hash, action, scope, topic, detail, evidence), "
    "fresh AS (SELECT i.* FROM input i JOIN new_events e ON e.hash = i.hash "
    "AND e.action = i.action AND e.scope = i.scope AND e.topic = i.topic "
    "AND e.detail = i.detail AND e.evidence IS NOT DISTINCT FROM i.evidence), "
    "added AS (INSERT INTO suppressions(hash, scope, topic, channel, all_channels, "
    "created_at, source, reason) SELECT hash, rule_scope, rule_topic, rule_channel, 0, at, "
    "rule_source, reason FROM fresh ORDER BY n ON CONFLICT DO NOTHING "
    "RETURNING hash, scope, topic) "
    "SELECT f.n, a.hash IS NOT NULL FROM fresh f LEFT JOIN added a ON a.hash = f.hash "
    "AND a.scope = f.rule_scope AND a.topic = f.rule_topic"
)
#: ``SqlSession.remember`` for many rows.
BATCH_IDENTITIES = (
    "INSERT INTO identities(hash, address) SELECT * FROM unnest(%b::bytea[], %b::text[]) "
    "ON CONFLICT DO NOTHING"
)


def _event_key(flat: Sequence[Any], index: int) -> tuple[Any, ...]:
    """The unique key of event ``index`` of a flat row list (``events_once``)."""
    row = flat[index * 11 : index * 11 + 11]
    return (bytes(row[1]), row[3], row[5], row[6], row[10], row[8])


def _rule_key(flat: Sequence[Any], index: int) -> tuple[bytes, int, bytes]:
    row = flat[index * 8 : index * 8 + 8]
    return (bytes(row[0]), int(row[1]), bytes(row[2]))


def redact(url: str) -> str:
    """The URL without its user-info or a ``password=`` in the query.

    The whole user-info part (everything between ``//`` and the last ``@`` before the
    host's path) becomes ``***``, whatever it holds: a password with an unencoded ``@``
    (which must be written ``%40``) is masked whole, never half shown.
    """
    scheme, slashes, rest = url.partition("//")
    if slashes:
        authority_end = len(rest)
        for mark in "/?#":
            found = rest.find(mark)
            if found != -1:
                authority_end = min(authority_end, found)
        # An unencoded "/", "?" or "#" inside a password ends the authority early: then
        # mask up to the last "@" anywhere, which can only hide more, never less.
        at = rest.rfind("@", 0, authority_end)
        if at == -1 and "@" in rest:
            at = rest.rfind("@")
        if at != -1:
            rest = "***" + rest[at:]
        url = scheme + slashes + rest
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)


def secret_parts(url: str) -> tuple[str, ...]:
    """The pieces of ``url``'s user-info (and ``password=``) that a driver may quote back.

    libpq reads ``user:p@ss@host`` as user ``user``, password ``p`` and host
    ``ss@host``, and names that host in its error: :func:`scrub` hides every piece.
    """
    _, slashes, rest = url.partition("//")
    parts: list[str] = []
    if slashes and "@" in rest:
        info = rest[: rest.rfind("@")]
        parts += [piece for piece in re.split(r"[:@/?#]", info) if len(piece) >= 3]
    parts += re.findall(r"[?&]password=([^&]{3,})", url, flags=re.IGNORECASE)
    return tuple(sorted(set(parts), key=len, reverse=True))


def scrub(text: str, parts: tuple[str, ...]) -> str:
    """``text`` with every piece of :func:`secret_parts` replaced by ``***``."""
    for part in parts:
        text = text.replace(part, "***")
    return text


#: Connection failures a retry will not fix (libpq's wording; the errors carry no code).
_PERMANENT = re.compile(
    r"does not exist|password authentication failed|no password supplied|"
    r"authentication failed|pg_hba\.conf|invalid \w+ value|invalid connection option|"
    r"invalid URI",
    re.IGNORECASE,
)


def has_store(url: str, *, timeout: float = POOL_TIMEOUT) -> bool:
    """True when the database at ``url`` holds a prefcenter store (its ``meta`` table).

    Connects once and creates nothing.

    Raises:
        StoreUnavailable: the database cannot be reached (StoreMisconfigured: not at all).
    """
    if psycopg is None:
        return True  # opening it will say that psycopg is missing
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout))) as conn:
            row = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    except psycopg.Error as error:
        raise translate(error, redact(url), secret_parts(url)) from None
    return bool(row and row[0])


def translate(error: BaseException, url: str, hide: tuple[str, ...] = ()) -> StoreUnavailable:
    """A psycopg error as the exception callers handle: busy, misconfigured or unavailable.

    ``url`` is already redacted; ``hide`` (:func:`secret_parts`) is taken out of the
    driver's own message, which may quote a mis-parsed password as a host name.
    """
    if isinstance(
        error,
        psycopg.errors.SerializationFailure
        | psycopg.errors.DeadlockDetected
        | psycopg.errors.TransactionRollback,
    ):
        return StoreConflict(
            f"PostgreSQL store {url!r} rolled a transaction back ({type(error).__name__}); "
            "run it again."
        )
    if isinstance(error, psycopg.errors.LockNotAvailable):
        return StoreBusy(
            f"PostgreSQL store {url!r} hit a conflict ({type(error).__name__}); retry."
        )
    text = scrub(str(error).strip(), hide)[:200]
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return StoreMisconfigured(
            f"PostgreSQL store {url!r} refused a statement ({text}); grant the role "
            "DATABASE names the privileges docs/store.md lists, or use a role that has them."
        )
    if isinstance(error, psycopg.Error) and _PERMANENT.search(text):
        return StoreMisconfigured(
            f"PostgreSQL store {url!r} cannot be used ({type(error).__name__}: {text}); "
            "a retry will not help: fix DATABASE (database, role, password, options)."
        )
    return StoreUnavailable(
        f"PostgreSQL store {url!r} cannot be used ({type(error).__name__}: {text}); "
        "check the server and DATABASE, then retry."
    )


def check_idle(conn: Any) -> None:
    """Raise if a pooled connection is no longer usable; no round trip when it is.

    An idle connection has nothing to read: the server sends nothing unasked. So a
    readable socket means the server closed it (end of file, or a termination notice
    after a restart, a failover or an idle timeout) or sent a notice, and only then is
    the pool's full check (an empty query) run. Checking every connection that way
    cost a round trip per ``check``, as much as the lookup itself.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        psycopg_pool.ConnectionPool.check_connection(conn)


class PostgresStore(SqlStore):
    """A store in one PostgreSQL database, shared by every host.

    Args:
        url: a ``postgresql://`` connection URL.
        fingerprint: the pepper fingerprint; a database made with another one is refused.
        max_size: largest number of pooled connections.
        timeout: seconds to wait for a connection before StoreUnavailable.
    """

    def __init__(
        self, url: str, *, fingerprint: str, max_size: int = 8, timeout: float = POOL_TIMEOUT
    ) -> None:
        super().__init__()
        if psycopg is None:
            raise StoreUnavailable(
                f"DATABASE is {redact(url)!r} but psycopg is not installed; "
                "pip install 'prefcenter[postgres]'."
            )
        self.url = redact(url)
        self._hide = secret_parts(url)
        self.dialect = Dialect(
            name="postgresql",
            placeholder="%s",
            blob="BYTEA",
            link_lock=f"SELECT pg_advisory_xact_lock({LINK_LOCK})",
        )
        try:
            # One direct connection first: an unreachable server or a refused login fails
            # now, with the server's own reason, not after the pool's retries time out.
            psycopg.connect(url, connect_timeout=max(1, round(timeout))).close()
        except psycopg.Error as error:
            raise self._translate(error) from None
        self._url, self._max_size, self._timeout = url, max_size, timeout
        self._pool = self._new_pool()
        # Half the pool at most is pinned to reading threads (``read``); writers keep the rest.
        self._pinned = PinnedReaders(max_size // 2, self._session)
        self._released = self._closed = False
        try:
            self._pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
            self._pool.close()
            raise self._translate(error) from None
        try:
            with self._begin() as conn:
                conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
                postgres_migrations.apply(conn)
                check_meta(self._session(conn), fingerprint, self.url)
        except BaseException:
            self._pool.close()
            raise

    def _new_pool(self) -> Any:
        """A pool, not yet open."""
        return psycopg_pool.ConnectionPool(
            self._url,
            min_size=1,
            max_size=self._max_size,
            kwargs={"autocommit": True},
            timeout=self._timeout,
            open=False,
            # A connection the server closed (a restart, a failover) is found before it
            # is handed out, not by the request that uses it (see `check_idle`).
            check=check_idle,
            # The pool's own reconnecting backs off exponentially (1, 2, 4 ... 64 s), so
            # after a long outage it could wait a minute past the server's return. It
            # gives up after a few seconds instead, and waiting requests then open
            # connections themselves, at once.
            reconnect_timeout=RECONNECT_TIMEOUT,
        )

    def release(self, *, mapped: bool = True) -> None:
        """Close the pool (its connections and threads); the next call opens a new one
        (see ``Store.release``; PostgreSQL maps nothing into this process)."""
        if self._closed:
            return  # a closed store stays closed
        self._pinned.close()
        self._pool.close()
        self._pool = self._new_pool()
        self._released = True

    def _translate(self, error: BaseException) -> StoreUnavailable:
        return translate(error, self.url, self._hide)

    def _session(self, conn: Any) -> SqlSession:
        return PostgresSession(conn, self.dialect)

    def _reopen(self) -> None:
        """Open the pool again after :meth:`release`."""
        if self._released:
            self._released = False
            try:
                self._pool.open(wait=True, timeout=self._timeout)
            except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
                self._released = True
                raise self._translate(error) from None

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        self._reopen()
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout as error:
            raise self._translate(error) from None
        except (
            psycopg.OperationalError,
            psycopg.InterfaceError,
            psycopg.errors.InsufficientPrivilege,
        ) as error:
            raise self._translate(error) from None

    @contextmanager
    def _begin(self, durable: bool = True) -> Iterator[Any]:
        with self._connection() as conn, conn.transaction():
            if not durable:  # this transaction only
                conn.execute("SET LOCAL synchronous_commit = off")
            yield conn

    def read(self, work: Callable[[SqlSession], T]) -> T:
        """:meth:`SqlStore.read` on this thread's pinned connection (see
        :mod:`prefcenter.store.pinned`): ``check``'s hot path, no pool checkout per call.
        Errors are translated as on the pool's connections."""
        local = self._local
        current: SqlSession | None = getattr(local, "session", None)
        if current is not None:
            return work(current)
        for _ in range(2):  # a second time only when the first connection was found dead
            pinned: Pinned | None = getattr(local, "pinned", None)
            if pinned is None or not pinned.alive:
                pinned = local.pinned = self._pin()
                if pinned is None:
                    return super().read(work)  # every slot taken: through the pool
            with pinned.lock:
                if not pinned.alive:
                    continue  # given back meanwhile (``release``)
                try:
                    check_idle(pinned.conn)
                except psycopg.Error:
                    self._pinned.drop(pinned)  # the server closed it: take another
                    continue
                try:
                    return work(pinned.session)
                except (
                    psycopg.OperationalError,
                    psycopg.InterfaceError,
                    psycopg.errors.InsufficientPrivilege,
                ) as error:
                    if pinned.conn.closed or pinned.conn.broken:
                        self._pinned.drop(pinned)
                    raise self._translate(error) from None
        return super().read(work)

    def _pin(self) -> Pinned | None:
        if self._closed:
            raise StoreUnavailable(f"PostgreSQL store {self.url!r} is closed; open a new one.")
        self._reopen()
        try:
            return self._pinned.take(self._pool)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as error:
            raise self._translate(error) from None

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._connection() as conn:
            yield conn

    def suppress_alone(self, items: Sequence[tuple[NewEvent, bytes]]) -> list[bool] | None:
        """``suppress_batch`` in autocommit: the one statement is its own transaction, so a
        group of one-click POSTs costs one round trip instead of four (BEGIN, two
        INSERTs, COMMIT). psycopg returns only once the server reported ready for the
        next query, which it does after the commit reached the disk
        (``synchronous_commit`` as configured), so nothing is answered before it is
        durable; a failed commit raises here like any failed statement."""
        if getattr(self._local, "session", None) is not None:
            return None  # a transaction is open on this thread: join it instead
        batch = suppress_parameters(items)
        if batch is None:
            return None
        for attempt in range(RETRIES):
            try:
                with self._connection() as conn:
                    rows = conn.execute(SUPPRESS_BATCH, batch.parameters, binary=True)
                    return batch.results(rows)
            except StoreBusy:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _after_forget(self) -> None:
        # Old row versions stay in the heap until autovacuum reuses their space; PostgreSQL
        # has no secure_delete, so erasure on disk is the operator's VACUUM (docs/store.md).
        return

    def close(self) -> None:
        self._closed = True
        self._pinned.close()
        self._pool.close()
