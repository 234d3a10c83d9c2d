"""Where a benchmark's store lives: a SQLite file, or a PostgreSQL that pgserver starts.

``--backend postgresql`` starts one PostgreSQL (pgserver, as the tests do: a private data
directory, Unix socket only, the server's default settings, so ``fsync`` and
``synchronous_commit`` stay on) for the run, gives each measurement a fresh database,
and stops the server at the end whatever happened. :func:`bulk_suppress` fills a store
the fast way (``COPY`` on PostgreSQL, one sorted ``executemany`` on SQLite) with the rows
``suppress`` writes, for stores too large to build one call at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "postgresql")


def add_option(parser: argparse.ArgumentParser) -> None:
    """``--backend {sqlite,postgresql}`` (default sqlite)."""
    parser.add_argument(
        "--backend", choices=BACKENDS, default="sqlite", help="the store to measure"
    )


def _postmaster(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"postgres" in command else None


class Postgres:
    """One pgserver PostgreSQL in ``pgdata``; :meth:`database` makes fresh databases."""

    def __init__(self, pgdata: Path) -> None:
        import pgserver

        self.pgdata = pgdata
        self.server: Any = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        self.uri: str = self.server.get_uri()

    def database(self, name: str) -> str:
        """The URL of a new, empty database ``name`` (dropped first if it exists)."""
        self.server.psql(f"DROP DATABASE IF EXISTS {name};")
        self.server.psql(f"CREATE DATABASE {name};")
        return self.uri.replace("/postgres?", f"/{name}?", 1)

    def psql(self, command: str) -> str:
        return str(self.server.psql(command))

    def stop(self) -> None:
        """Stop the server (whichever process serves the data directory now)."""
        self.server.cleanup()  # stops the process pgserver started, if it still runs
        if _postmaster(self.pgdata) is not None:
            from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

            user = getattr(self.server, "system_user", None)
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=120)
            pid = _postmaster(self.pgdata)
            if pid is not None:
                os.kill(pid, signal.SIGINT)


@contextlib.contextmanager
def postgres(work: Path) -> Iterator[Postgres]:
    """A PostgreSQL for the length of the block, its data under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # pgserver runs the server as its own user when started by root
    server = Postgres(work / "pgdata")
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def database(backend: str, work: Path, name: str = "bench") -> Iterator[str]:
    """A fresh store URL on ``backend``: a SQLite file under ``work``, or a database on a
    PostgreSQL started for the block."""
    if backend == "sqlite":
        yield f"sqlite:///{work / (name + '.db')}"
        return
    with postgres(work / "pg") as server:
        yield server.database(name)


@contextlib.contextmanager
def databases(backend: str, work: Path, names: list[str]) -> Iterator[list[str]]:
    """Fresh store URLs, one per name, on ``backend`` (PostgreSQL: one server for all)."""
    if backend == "sqlite":
        yield [f"sqlite:///{work / (name + '.db')}" for name in names]
        return
    with postgres(work / "pg") as server:
        yield [server.database(name) for name in names]


def bulk_suppress(url: str, hashes: Iterable[bytes], *, at_ms: int, batch: int = 200_000) -> int:
    """Insert a global e-mail suppression (source: import) for each hash, directly.

    The rows are the ones ``suppress`` writes for an import, without events: what a
    store of that many suppressions holds. The store must exist (opened once). Returns
    the number of rows written.
    """
    from prefcenter.model import Channel, Scope, Source
    from prefcenter.store.codes import CHANNEL_CODE, SCOPE_CODE, SOURCE_CODE

    scope, channel, source = (
        SCOPE_CODE[Scope.GLOBAL],
        CHANNEL_CODE[Channel.EMAIL],
        SOURCE_CODE[Source.IMPORT],
    )
    written = 0
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            rows = sorted(hashes)  # in key order: the B-tree is written left to right
            for start in range(0, len(rows), batch):
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, "
                    "created_at, source, reason) VALUES (?, ?, ?, ?, 0, ?, ?, NULL)",
                    ((h, scope, b"", channel, at_ms, source) for h in rows[start : start + batch]),
                )
                conn.execute("COMMIT")
                written += len(rows[start : start + batch])
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return written
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        columns = "hash, scope, topic, channel, all_channels, created_at, source"
        pending: list[bytes] = []

        def flush() -> None:
            nonlocal written
            with (
                pg.transaction(),
                pg.cursor() as cursor,
                cursor.copy(f"COPY suppressions({columns}) FROM STDIN") as copy,
            ):
                for value in pending:
                    copy.write_row((value, scope, b"", channel, 0, at_ms, source))
            written += len(pending)
            pending.clear()

        for value in hashes:
            pending.append(value)
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        pg.execute("VACUUM (ANALYZE) suppressions")
    return written


def store_bytes(url: str, table: str = "suppressions") -> tuple[int, int]:
    """(bytes of the table and its indexes, bytes of the whole database or file)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            (used,) = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name IN "
                "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
                [table, table],
            ).fetchone()
        finally:
            conn.close()
        return int(used or 0), Path(path).stat().st_size
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(f"VACUUM (ANALYZE) {table}")
        row = pg.execute(
            "SELECT pg_total_relation_size(%s), pg_database_size(current_database())", [table]
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def sidecar_settings(url: str, var_dir: Path, **listen: str) -> Any:
    """Settings for a benchmarked sidecar on ``url``: fixed keys, ``listen`` (``http``,
    ``smtp``, ``base_url``, ``mail_domain``...), and rate limits on but out of reach."""
    from prefcenter.config import load_settings

    return load_settings(
        {
            "database": url,
            "secret": "bench-secret-0123456789abcdef0123",
            "pepper": "bench-pepper-0123456789abcdef0123",
            "var_dir": str(var_dir),
            **listen,
            # Rate limits on (their cost is measured) but never reached: the load comes
            # from one address, far faster than any real client.
            "page_rate": "1000000000/1m",
            "smtp_connection_rate": "1000000000/1m",
            "smtp_message_rate": "1000000000/1m",
        },
        environ={},
        generate_dev_keys=False,
    )


def timer() -> float:
    """Wall-clock seconds: on PostgreSQL half the work is the server's, not this process's."""
    return time.perf_counter()
