"""The outbox in the store: the trigger's rows join the change's own commit without
knocking a group commit off its batch path, and removed endpoints are dead-lettered."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.changes import SuppressRequest
from prefcenter.errors import InvalidInput
from prefcenter.model import Action, Scope, Source
from prefcenter.store.protocol import NewEvent, Session
from tests.conftest import make_settings
from tests.webhooks.conftest import SECRET

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_group_of_suppressions_takes_the_batch_path_with_the_outbox_on(
    database: str, tmp_path: Path
) -> None:
    """The outbox trigger writes a row per event; the batch insert must not count those
    as its own rows (it would undo the group and write it again one by one)."""
    with PreferenceCenter(make_settings(tmp_path, database=database)) as center:
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/a"]))
        hashes = [center.identity(f"p{n}@example.com").hash for n in range(40)]
        items = [
            (NewEvent(NOW, h, Action.SUPPRESS, Source.ONE_CLICK, scope=Scope.GLOBAL), b"")
            for h in hashes
        ]

        def batch(session: Session) -> list[bool] | None:
            return session.suppress_batch(items)

        assert center.store.run(batch) == [True] * 40
        assert center.webhook_outbox() == {("http://127.0.0.1:9/a", "pending"): 40}
        assert len(list(center.store.events())) == 40


def test_moving_to_a_new_endpoint_dead_letters_the_old_ones_rows(
    database: str, tmp_path: Path
) -> None:
    with PreferenceCenter(make_settings(tmp_path, database=database)) as center:
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/a"]))
        center.suppress("a@example.com", source=Source.CLI)
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/b"]))
        center.suppress("b@example.com", source=Source.CLI)
        assert center.store.run(lambda session: session.outbox_retire()) == 1
        assert center.webhook_outbox() == {
            ("http://127.0.0.1:9/a", "dead"): 1,
            ("http://127.0.0.1:9/b", "pending"): 1,
        }
        assert center.retry_dead_webhooks() == 0  # nothing would deliver them
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/a"]))
        assert center.retry_dead_webhooks() == 1  # the URL is back: queued again


def test_bookkeeping_commits_are_visible_and_leave_later_commits_durable(
    database: str, tmp_path: Path
) -> None:
    """``run(durable=False)`` (the worker's deletes) commits; the next transaction on the
    same connection waits for the disk again (SQLite: synchronous back to FULL)."""
    with PreferenceCenter(make_settings(tmp_path, database=database)) as center:
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/a"]))
        center.suppress("a@example.com", source=Source.CLI)
        (row,) = center.store.read(lambda session: session.outbox_due(1, 2**62, 10))
        center.store.run(lambda session: session.outbox_delivered([row.id]), durable=False)
        assert center.webhook_outbox() == {}
        sqlite = database.startswith("sqlite")
        query = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
        (level,) = center.store.run(lambda session: cast(Any, session)._one(query))
        assert level == (2 if sqlite else "on")  # SQLite: 2 is FULL


def test_discarding_deletes_only_a_removed_endpoints_dead_rows_and_audits_it(
    database: str, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        database=database,
        events_webhook_url="http://127.0.0.1:9/b",
        events_webhook_secret=SECRET,
    )
    with PreferenceCenter(settings, clock=lambda: NOW) as center:
        old = "http://127.0.0.1:9/a?token=s3cret"
        center.store.run(lambda session: session.sync_endpoints([old]))
        center.suppress("a@example.com", source=Source.CLI)
        center.suppress("b@example.com", source=Source.CLI)
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/b"]))
        center.suppress("c@example.com", source=Source.CLI)
        center.store.run(lambda session: session.outbox_retire())
        with pytest.raises(InvalidInput, match="still in EVENTS_WEBHOOK_URL"):
            center.discard_dead_webhooks("http://127.0.0.1:9/b")
        assert center.discard_dead_webhooks("http://127.0.0.1:9/elsewhere") == 0
        assert center.discard_dead_webhooks("http://127.0.0.1:9/a") == 2  # as status shows it
        # c, and the audit event itself (it goes out like every change)
        assert center.webhook_outbox() == {("http://127.0.0.1:9/b", "pending"): 2}
        (event,) = [e for e in center.store.events() if e.action == Action.WEBHOOKS_DISCARDED]
        assert (
            event.detail == "http://127.0.0.1:9/a" and event.reason == "2 dead-lettered deliveries"
        )
        assert event.source == Source.CLI and event.identity_hash == ""  # no person
        assert center.discard_dead_webhooks(old) == 0  # nothing left, and no second event
        assert sum(e.action == Action.WEBHOOKS_DISCARDED for e in center.store.events()) == 1


def test_the_outbox_keeps_order_per_person_group(database: str, tmp_path: Path) -> None:
    """A failed row of an email holds back a later row of a phone number linked to it."""
    with PreferenceCenter(make_settings(tmp_path, database=database)) as center:
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/a"]))
        center.link("a@example.com", "+14155550100", second_channel="sms", source=Source.API)
        center.suppress("a@example.com", source=Source.CLI)
        phone = center.identity("+14155550100", "sms").hash
        rows = center.store.read(lambda session: session.outbox_due(1, 2**62, 10))
        assert len({row.person for row in rows}) == 1  # link, suppress: one person
        first = next(row for row in rows if row.kind == "suppress")
        center.store.run(
            lambda s: s.outbox_failed([first.id], next_at=2**61, dead=False, error="HTTP 500")
        )
        center.suppress("+14155550100", channel="sms", source=Source.CLI)
        due = center.store.read(lambda session: session.outbox_due(1, 2**60, 10))
        assert [row.identity_hash for row in due] == []  # the phone waits behind the email
        center.suppress("z@example.com", source=Source.CLI)  # someone else is not held back
        due = center.store.read(lambda session: session.outbox_due(1, 2**60, 10))
        assert [row.identity_hash for row in due] == [center.identity("z@example.com").hash]
        assert phone not in {row.identity_hash for row in due}


def _outbox_trigger(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        found = "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'events_outbox'"
        return conn.execute(found).fetchone() is not None
    finally:
        conn.close()


def test_sqlite_runs_the_outbox_trigger_only_while_an_endpoint_is_active(tmp_path: Path) -> None:
    """Without endpoints no trigger runs per event; an endpoint registered later gets
    every change committed after it, and none from before."""
    path = tmp_path / "prefcenter.db"
    with PreferenceCenter(make_settings(tmp_path)) as center:
        center.suppress("before@example.com", source=Source.CLI)
        assert not _outbox_trigger(path)
        assert center.webhook_outbox() == {}
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/a"]))
        assert _outbox_trigger(path)
        center.suppress("after@example.com", source=Source.CLI)
        center.suppress_many([SuppressRequest(f"p{n}@example.com", Source.CLI) for n in range(3)])
        assert center.webhook_outbox() == {("http://127.0.0.1:9/a", "pending"): 4}
        center.store.run(lambda session: session.sync_endpoints([]))
        assert not _outbox_trigger(path)
        center.suppress("gone@example.com", source=Source.CLI)
        assert center.webhook_outbox() == {("http://127.0.0.1:9/a", "pending"): 4}


def test_the_sqlite_migration_drops_the_trigger_only_without_endpoints(tmp_path: Path) -> None:
    """A store made before the trigger came and went with its endpoints: migrated, it
    keeps the trigger while an endpoint is active and loses it otherwise."""
    from prefcenter.store.schema import sqlite_migrations

    for active in (True, False):
        path = tmp_path / f"old-{active}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        sqlite_migrations.apply(conn, target=sqlite_migrations.latest - 1)
        assert conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        ).fetchone() == (1,)
        if active:
            conn.execute("INSERT INTO webhook_endpoints(url) VALUES ('http://127.0.0.1:9/a')")
        sqlite_migrations.apply(conn)
        conn.close()
        assert _outbox_trigger(path) is active
