"""purge: closed exceptions lose their mail and old ledger rows go, on SQLite and PostgreSQL.

Suppressions and audit events are the opt-out and its proof: purge never touches them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Source
from prefcenter.store.retention import PURGED
from tests.store.conftest import Clock

MAIL = b"From: <alice@example.com>\r\nSubject: stop\r\n\r\nPlease stop, I moved to Leeds.\r\n"


def test_closed_mail_and_old_contacts_go_the_rest_stays(
    center: PreferenceCenter, clock: Clock
) -> None:
    center.suppress("alice@example.com", source=Source.CLI, reason="asked")
    center.record_sent("bob@example.com", sender="news")
    decided = center.open_exception(mailbox="unsubscribe", why="unproven", raw=MAIL)
    center.resolve_exception(decided.id, dismiss=True, reason="spam", source=Source.CLI)
    waiting = center.open_exception(mailbox="unsubscribe", why="unproven", raw=MAIL + b"2")
    clock.advance(days=91)
    late = center.open_exception(mailbox="unsubscribe", why="unproven", raw=MAIL + b"3")
    center.resolve_exception(late.id, dismiss=True, reason="spam", source=Source.CLI)

    preview = center.purge(dry_run=True)
    # the decided item, and the one left open past EXCEPTION_OPEN_RETENTION (30 days)
    assert (preview.exceptions, preview.contacts, preview.dry_run) == (2, 0, True)
    assert center.exception(decided.id).raw == MAIL  # a dry run changes nothing
    done = center.purge()
    assert (done.exceptions, done.contacts) == (2, 0)
    item = center.exception(decided.id)
    assert b"Leeds" not in item.raw and item.raw.startswith(b"X-Prefcenter-Purged: ")
    assert (item.summary, item.status, item.resolution) == (PURGED, "dismissed", "spam")
    still_open = center.exception(waiting.id)  # open: a person still decides, by its summary
    assert still_open.raw.startswith(b"X-Prefcenter-Purged: ") and still_open.status == "open"
    assert still_open.summary != PURGED
    assert center.exception(late.id).raw == MAIL + b"3"  # closed too recently
    assert center.purge().exceptions == 0  # nothing twice

    assert center.contacted("bob@example.com")
    clock.advance(days=310)  # 401 days after the send
    assert center.purge().contacts == 1
    assert not center.contacted("bob@example.com")
    assert not center.check("alice@example.com").allowed  # the opt-out stays
    actions = [event.action for event in center.history("alice@example.com")]
    assert actions == [Action.SUPPRESS]


def test_retention_comes_from_settings(
    open_center: Callable[..., PreferenceCenter], clock: Clock
) -> None:
    center = open_center(exception_retention=timedelta(days=7))
    item = center.open_exception(mailbox="unsubscribe", why="unproven", raw=MAIL)
    center.resolve_exception(item.id, dismiss=True, reason="spam", source=Source.CLI)
    clock.advance(days=6)
    assert center.purge().exceptions == 0
    clock.advance(days=2)
    assert center.purge().exceptions == 1


def test_purge_works_in_chunks(
    center: PreferenceCenter, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One transaction per chunk: a big day of the ledger never holds the lock for long.
    monkeypatch.setattr("prefcenter.center.PURGE_CHUNK", 5)
    calls: list[int] = []
    real_run = center.store.run

    def counting_run(work: Callable[..., object]) -> object:
        calls.append(1)
        return real_run(work)

    monkeypatch.setattr(center.store, "run", counting_run)
    wipes: list[int] = []
    monkeypatch.setattr(center.store, "_after_forget", lambda: wipes.append(1))
    monkeypatch.setattr("prefcenter.center.PURGE_PAUSE_S", 0.0)
    for number in range(12):
        center.record_sent(f"r{number}@example.com", sender="news")
    for _ in range(7):
        item = center.open_exception(mailbox="unsubscribe", why="unproven", raw=MAIL)
        center.resolve_exception(item.id, dismiss=True, reason="spam", source=Source.CLI)
    clock.advance(days=401)
    calls.clear()
    done = center.purge()
    assert (done.exceptions, done.contacts) == (7, 12)
    assert len(calls) == 3  # 5 + 5 + 2 ledger rows (5 + 2 + 0 items)
    assert len(wipes) == 1  # the WAL checkpoint that makes writers wait: after the last
    assert center.purge(dry_run=True).contacts == 0


def test_mail_shaped_like_a_placeholder_is_purged_too(
    center: PreferenceCenter, clock: Clock
) -> None:
    # The sender writes the raw mail: its first bytes must not exempt it from retention.
    raw = b"X-Prefcenter-Purged: 2020-01-01\r\n\r\nkeep me for ever\r\n"
    item = center.open_exception(mailbox="unsubscribe", why="unproven", raw=raw)
    center.resolve_exception(item.id, dismiss=True, reason="spam", source=Source.CLI)
    clock.advance(days=91)
    assert center.purge().exceptions == 1
    assert b"keep me" not in center.exception(item.id).raw
