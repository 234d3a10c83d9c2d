"""Copy a whole store into another one: SQLite to PostgreSQL, and any other pairing.

Every table is copied row for row (audit events, the contact ledger and the exceptions
queue included, ids kept) in chunks, inside ONE transaction on the target: the counts of
every table are compared with the source's before the commit, and any difference or
failure rolls everything back, so a failed run leaves the target empty and can simply
be run again. The source is read inside one snapshot (a read transaction), so a copy is
consistent even if a sidecar is still writing; stop writers first anyway, or their
changes after the snapshot stay behind in the source.

The target must be empty: merging two stores would renumber audit events and mix two
consent histories, which is a decision for a person, not for a copy tool.
"""

# SQL is assembled only from the constant table list below; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefcenter.config import Settings
from prefcenter.errors import MigrationError
from prefcenter.identity import Folding, Identities
from prefcenter.store import open_store
from prefcenter.store.session import SqlSession

#: Every data table with its primary key, in dependency-free copy order. ``meta`` is not
#: copied: the target writes its own schema version and checks the same pepper.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("topics", ("digest",)),
    ("identities", ("hash",)),
    ("links", ("hash",)),
    ("suppressions", ("hash", "scope", "topic")),
    ("preferences", ("hash",)),
    ("topic_prefs", ("hash", "topic")),
    ("contacts", ("id",)),
    ("events", ("id",)),
    ("exceptions", ("id",)),
)
#: Tables whose ids PostgreSQL generates: its sequence must continue after the copied ids.
IDENTITY_TABLES = ("contacts", "events", "exceptions")
CHUNK = 5000


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`migrate` copied.

    Attributes:
        source: the source URL (password removed).
        target: the target URL (password removed).
        counts: rows per table, equal in source and target (else nothing was committed).
    """

    source: str
    target: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows copied over all tables."""
        return sum(self.counts.values())


def migrate(
    source_url: str,
    target_url: str,
    settings: Settings,
    *,
    chunk_size: int = CHUNK,
    progress: Callable[[str, int], None] | None = None,
) -> MigrationReport:
    """Copy every table of the store at ``source_url`` into the empty store at ``target_url``.

    Args:
        source_url: the store to read, e.g. ``sqlite:///var/prefcenter.db``.
        target_url: the store to fill, e.g. ``postgresql://prefcenter@db/prefcenter``;
            its schema is created if missing.
        settings: the pepper and folding settings both stores were made with.
        chunk_size: rows read and written per round trip.
        progress: called with (table, rows copied so far) after each chunk.

    Raises:
        MigrationError: source and target are the same, the target is not empty, or the
            counts differ after the copy (nothing was committed).
        PepperMismatch: either store was created with another pepper.
        StoreUnavailable: either database cannot be reached or written.
    """
    if chunk_size < 1:
        raise MigrationError(f"Chunk size {chunk_size} is too small; use 1 or more.")
    fingerprint = Identities(
        settings.pepper_bytes(), Folding(settings.fold_subaddress, settings.fold_gmail)
    ).fingerprint()
    source = open_store(source_url, fingerprint=fingerprint)
    try:
        target = open_store(target_url, fingerprint=fingerprint)
    except BaseException:
        source.close()
        raise
    try:
        if source.url == target.url:
            raise MigrationError(
                f"Source and target are the same store ({source.url!r}); "
                "name a different target with --to."
            )
        counts: dict[str, int] = {}
        with _snapshot(source) as reader, target.transaction() as writer:
            assert isinstance(writer, SqlSession)  # both backends are SQL stores
            for table, _key in TABLES:
                existing = _count(writer, table)
                if existing:
                    raise MigrationError(
                        f"Target {target.url!r} already holds {existing} rows in {table!r}; "
                        "migrate into an empty database (drop and re-create it, or name "
                        "a new one)."
                    )
            for table, key in TABLES:
                copied = 0
                for rows, columns in _chunks(reader, table, key, chunk_size):
                    _insert(writer, table, columns, rows)
                    copied += len(rows)
                    if progress is not None:
                        progress(table, copied)
                counts[table] = copied
            for table, _key in TABLES:
                expected, found = _count(reader, table), _count(writer, table)
                if expected != found or found != counts[table]:
                    raise MigrationError(
                        f"Table {table!r} has {expected} rows in the source but {found} in "
                        "the target; nothing was committed, run the migration again."
                    )
            if writer.dialect.name == "postgresql":
                for table in IDENTITY_TABLES:
                    writer._one(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
        return MigrationReport(source.url, target.url, counts)
    finally:
        source.close()
        target.close()


@contextmanager
def _snapshot(store: Any) -> Iterator[SqlSession]:
    """A read session that sees one consistent snapshot of the whole store."""
    with store.session() as session:
        if session.dialect.name == "postgresql":
            with session.conn.transaction():
                session.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield session
        else:  # SQLite: the read session is already one deferred transaction
            yield session


def _count(session: SqlSession, table: str) -> int:
    return int(session._one(f"SELECT count(*) FROM {table}")[0])


def _chunks(
    session: SqlSession, table: str, key: tuple[str, ...], size: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[str]]]:
    """Rows of ``table`` in primary-key order, ``size`` at a time (keyset pagination)."""
    keys = ", ".join(key)
    after: tuple[Any, ...] | None = None
    while True:
        if after is None:
            sql, params = f"SELECT * FROM {table} ORDER BY {keys} LIMIT {size}", []
        else:
            marks = ", ".join("?" for _ in key)
            sql = f"SELECT * FROM {table} WHERE ({keys}) > ({marks}) ORDER BY {keys} LIMIT {size}"
            params = list(after)
        cursor = session.conn.execute(session.dialect.sql(sql), params)
        columns = [d[0] for d in cursor.description]
        rows = [tuple(_plain(v) for v in row) for row in cursor.fetchall()]
        if not rows:
            return
        yield rows, columns
        positions = [columns.index(k) for k in key]
        after = tuple(rows[-1][p] for p in positions)
        if len(rows) < size:
            return


def _plain(value: Any) -> Any:
    # psycopg may hand bytea back as memoryview; both drivers take bytes.
    return bytes(value) if isinstance(value, memoryview) else value


def _insert(
    session: SqlSession, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    names = ", ".join(columns)
    if session.dialect.name == "postgresql":
        # COPY streams a chunk in one round trip; executemany would pay one per row.
        with (
            session.conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    sql = session.dialect.sql(f"INSERT INTO {table} ({names}) VALUES ({marks})")
    cursor = session.conn.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


__all__ = ["CHUNK", "TABLES", "MigrationError", "MigrationReport", "migrate"]
