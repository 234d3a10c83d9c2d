"""The shared store: PostgreSQL through psycopg 3 and a connection pool, for many hosts.

Concurrency relies on ``INSERT ... ON CONFLICT`` at READ COMMITTED; the few changes that
read before they write across rows (person groups) take a transaction-scoped advisory
lock. Serialization failures and deadlocks raise :class:`StoreBusy`, which
:meth:`run` retries; any connection failure raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prefcenter.errors import StoreBusy, StoreUnavailable
from prefcenter.store.base import SqlStore
from prefcenter.store.rows import Dialect
from prefcenter.store.schema import check_meta, postgres_migrations
from prefcenter.store.session import SqlSession

try:  # optional dependency: prefcenter[postgres]
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]
    psycopg_pool = None  # type: ignore[assignment]

# Arbitrary constants naming prefcenter's advisory locks.
LINK_LOCK = 0x70726566
MIGRATE_LOCK = 0x70726567
POOL_TIMEOUT = 10.0


class PostgresSession(SqlSession):
    """Chunks of hashes travel as one ``bytea[]`` parameter."""

    def _match_many(self, hashes: Sequence[bytes]) -> tuple[str, list[Any]]:
        return "= ANY(%s)", [list(hashes)]


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


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
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            timeout=timeout,
            open=False,
        )
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

    def _translate(self, error: BaseException) -> StoreUnavailable:
        if isinstance(
            error,
            psycopg.errors.SerializationFailure
            | psycopg.errors.DeadlockDetected
            | psycopg.errors.TransactionRollback
            | psycopg.errors.LockNotAvailable,
        ):
            return StoreBusy(
                f"PostgreSQL store {self.url!r} hit a conflict ({type(error).__name__}); retry."
            )
        return StoreUnavailable(
            f"PostgreSQL store {self.url!r} cannot be used ({type(error).__name__}: "
            f"{str(error).strip()[:200]}); check the server and DATABASE, then retry."
        )

    def _session(self, conn: Any) -> SqlSession:
        return PostgresSession(conn, self.dialect)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout as error:
            raise self._translate(error) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise self._translate(error) from None

    @contextmanager
    def _begin(self) -> Iterator[Any]:
        with self._connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._connection() as conn:
            yield conn

    def _after_forget(self) -> None:
        # Old row versions stay in the heap until autovacuum reuses their space; PostgreSQL
        # has no secure_delete, so erasure on disk is the operator's VACUUM (docs/store.md).
        return

    def close(self) -> None:
        self._pool.close()
