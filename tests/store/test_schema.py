"""Opening a store: migrations from older versions, the pepper check, and failures."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import ConfigError, PepperMismatch, SchemaTooNew, StoreBusy, StoreUnavailable
from prefcenter.identity import Identities
from prefcenter.model import Channel, Reason, Scope, Source
from prefcenter.store import open_store
from prefcenter.store.codes import to_ms
from prefcenter.store.schema import postgres_migrations, sqlite_migrations
from prefcenter.store.sqlite import SqliteStore, translate
from tests.conftest import TEST_PEPPER, make_settings
from tests.store.conftest import START

ALICE = "alice@example.com"
IDENTITIES = Identities(TEST_PEPPER.encode())


def _version_one(conn: object, placeholder: str) -> None:
    """What prefcenter 1 left behind: a suppression, its event and the fingerprint."""
    p = placeholder
    execute = conn.execute  # type: ignore[attr-defined]
    alice = IDENTITIES.parse(ALICE).hash
    execute(
        f"INSERT INTO meta(key, value) VALUES ({p}, {p})",
        ["pepper_fingerprint", IDENTITIES.fingerprint()],
    )
    execute(
        "INSERT INTO suppressions(hash, scope, topic, channel, all_channels, created_at, source, "
        f"reason) VALUES ({p}, 1, {p}, 0, 0, {p}, 1, NULL)",
        [alice, b"", to_ms(START)],
    )
    execute(
        "INSERT INTO events(at, hash, channel, action, source, scope, topic, evidence) "
        f"VALUES ({p}, {p}, 'email', 'suppress', 'one-click', 'global', '', 'r1')",
        [to_ms(START), alice],
    )


def _check_upgraded(center: PreferenceCenter) -> None:
    decision = center.check(ALICE)
    assert (decision.reason, decision.since) == (Reason.UNSUBSCRIBED_GLOBAL, START)
    assert not center.suppress(ALICE, source=Source.ONE_CLICK, evidence="r1")  # same event
    assert center.link(ALICE, "bob@example.com", source=Source.CLI)  # a version-2 table
    assert center.open_exception(mailbox="fbl", why="test", raw=b"x").id == 1
    assert len(center.history(ALICE)) == 2


def test_a_version_one_sqlite_file_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert sqlite_migrations.apply(conn, target=1) == 1
    _version_one(conn, "?")
    conn.close()
    with PreferenceCenter(make_settings(tmp_path, database=f"sqlite:///{path}")) as center:
        _check_upgraded(center)
    conn = sqlite3.connect(path)
    assert sqlite_migrations.version(conn) == sqlite_migrations.latest >= 4
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(events)")}
    assert indexes == {"events_at", "events_once"}  # version 3: one index where two were
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "sent_messages" in tables  # the issue 21 step: Message-ID digests for proof
    conn.close()


def test_a_version_one_postgres_database_upgrades_in_place(
    tmp_path: Path, postgres_url: str
) -> None:
    import psycopg

    reader = "prefcenter_schema_reader"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert postgres_migrations.apply(conn, target=1) == 1
        _version_one(conn, "%s")
        conn.execute(
            f"DO $$ BEGIN CREATE ROLE {reader}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        conn.execute(f"GRANT SELECT ON suppressions TO {reader}")
    with PreferenceCenter(make_settings(tmp_path, database=postgres_url)) as center:
        _check_upgraded(center)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert postgres_migrations.version(conn) == postgres_migrations.latest >= 4
        row = conn.execute("SELECT to_regclass('sent_messages')").fetchone()
        assert row is not None and row[0] is not None
        # Issue 26: the table was rebuilt compact, and a reporting role keeps its grant.
        types: dict[str, str] = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'suppressions'"
            ).fetchall()
        )
        assert types["scope"] == types["source"] == "smallint"
        granted = conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'suppressions' AND grantee = %s",
            [reader],
        ).fetchall()
        assert granted == [("SELECT",)]
        conn.execute(f"REVOKE ALL ON suppressions FROM {reader}")


def test_another_pepper_is_refused(open_center: Callable[..., PreferenceCenter]) -> None:
    open_center().suppress(ALICE, source=Source.CLI)
    with pytest.raises(PepperMismatch) as caught:
        open_center(pepper="another-pepper-0123456789abcdef01")
    message = str(caught.value)
    assert "was created with pepper fingerprint" in message
    assert "so no stored opt-out would match" in message
    assert "set PREFCENTER_PEPPER, FOLD_SUBADDRESS and FOLD_GMAIL back" in message
    assert TEST_PEPPER not in message
    assert isinstance(caught.value, ValueError)


def test_other_folding_rules_are_refused(open_center: Callable[..., PreferenceCenter]) -> None:
    open_center()
    with pytest.raises(PepperMismatch):
        open_center(fold_subaddress=False)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}", fingerprint="f").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(SchemaTooNew, match="schema version 99 but this prefcenter knows only up"):
        open_store(f"sqlite:///{path}", fingerprint="f")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://u:secret@db/x",
            "Setting DATABASE has value 'mysql://***@db/x'; use sqlite:///path.db or "
            "postgresql://user@host/db.",
        ),
        (  # the scheme is what is wrong, so it is shown; the password is not
            "postgresql+psycopg://u@db/x?password=secret",
            "Setting DATABASE has value 'postgresql+psycopg://***@db/x?password=***'; use "
            "sqlite:///path.db or postgresql://user@host/db.",
        ),
        (
            "sqlite:///:memory:",
            "Setting DATABASE has value 'sqlite:///:memory:'; use a file such as "
            "sqlite:///var/prefcenter.db (an in-memory database would lose every opt-out).",
        ),
    ],
)
def test_unusable_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url, fingerprint="f")
    assert str(caught.value) == message


def test_a_path_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(
        StoreUnavailable, match=r"Cannot create SQLite database .* or its directory"
    ):
        open_store(f"sqlite:///{tmp_path / 'file' / 'x.db'}", fingerprint="f")


def test_a_new_sqlite_store_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    # It holds clear addresses; a umask of 022 would make it world-readable.
    path = tmp_path / "private" / "store.db"
    with PreferenceCenter(make_settings(tmp_path, database=f"sqlite:///{path}")) as center:
        center.suppress("alice@example.com", source=Source.CLI)
        files = sorted(path.parent.glob("store.db*"))
        assert [f.name for f in files] == ["store.db", "store.db-shm", "store.db-wal"]
        assert {oct(f.stat().st_mode & 0o777) for f in files} == {"0o600"}


def test_an_unreachable_postgres_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    from prefcenter.store.postgres import PostgresStore

    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore("postgresql://u:hunter2@127.0.0.1:1/x", fingerprint="f", timeout=3)
    assert "hunter2" not in str(caught.value)
    assert "Connection refused" in str(caught.value)  # the reason, not a pool timeout
    assert isinstance(caught.value, OSError)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


@pytest.mark.parametrize(
    ("text", "kind", "start"),
    [
        ("database is locked", StoreBusy, "SQLite database 'x.db' stayed locked past 5000 ms"),
        ("disk I/O error", StoreUnavailable, "SQLite database 'x.db' cannot be used (disk I/O"),
        ("database or disk is full", StoreUnavailable, "SQLite database 'x.db' cannot be used"),
        (
            "attempt to write a readonly database",
            StoreUnavailable,
            "SQLite database 'x.db' cannot be used",
        ),
    ],
)
def test_sqlite_errors_translate(text: str, kind: type[Exception], start: str) -> None:
    error = translate(sqlite3.OperationalError(text), "x.db")
    assert type(error) is kind
    assert str(error).startswith(start)


def test_a_held_lock_waits_then_raises_busy_and_commits_nothing(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SqliteStore(path, fingerprint="f", busy_timeout_ms=50)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    alice = IDENTITIES.parse(ALICE).hash

    def write(session: object) -> bool:
        return session.suppress(  # type: ignore[attr-defined, no-any-return]
            alice,
            Channel.EMAIL,
            Scope.GLOBAL,
            b"\0\0\0\0",
            all_channels=False,
            reason="",
            source=Source.CLI,
            at=START,
        )

    with pytest.raises(StoreBusy):
        store.run(write)
    releaser = threading.Timer(0.02, holder.execute, ["COMMIT"])
    releaser.start()
    time.sleep(0.001)
    assert store.run(write)  # the lock is released within the retries: the write lands
    releaser.join()
    holder.close()
    assert store.counts()["suppressions"] == 1
    store.close()


def test_bytes_per_suppression_on_sqlite(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "size.db", fingerprint="f")
    with store.transaction() as session:
        for number in range(20000):
            session.suppress(
                IDENTITIES.hash_key(f"email:user{number}@example.com"),
                Channel.EMAIL,
                Scope.GLOBAL,
                b"\0\0\0\0",
                all_channels=False,
                reason="",
                source=Source.IMPORT,
                at=START,
            )
    with store.session() as session:
        used = session._one("SELECT sum(pgsize - unused) FROM dbstat WHERE name = 'suppressions'")[
            0
        ]
    store.close()
    assert used / 20000 <= 60


def test_a_store_that_cannot_write_raises_unavailable_and_commits_nothing(
    tmp_path: Path,
) -> None:
    with PreferenceCenter(make_settings(tmp_path)) as center:
        center.store._connection().execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]
        with pytest.raises(StoreUnavailable, match=r"cannot be used .*readonly") as caught:
            center.suppress(ALICE, source=Source.ONE_CLICK, evidence="r1")
        assert isinstance(caught.value, OSError)
        assert ALICE not in str(caught.value)
        assert center.check(ALICE).allowed
        center.store._connection().execute("PRAGMA query_only = OFF")  # type: ignore[attr-defined]
        assert center.history(ALICE) == []
        assert center.suppress(ALICE, source=Source.ONE_CLICK, evidence="r1")
