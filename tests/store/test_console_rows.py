"""The console's store work on SQLite and PostgreSQL: operators, a page of the queue,
the report's day counts (with the day cache) and a person's story."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.errors import NotAllowed
from prefcenter.model import Reason, Source
from prefcenter.operators import LOCKOUT, MAX_FAILURES, Operators
from prefcenter.report.story import build_story
from prefcenter.report.trends import DayCache, build_trends
from tests.store.conftest import Clock

PASSWORD = "a long enough password"


def test_the_lockout_ends_after_its_time(center: PreferenceCenter, clock: Clock) -> None:
    operators = Operators(center)
    operators.add("abe", "agent", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(NotAllowed):
            operators.authenticate("abe", "wrong password")
    with pytest.raises(NotAllowed) as locked:
        operators.authenticate("abe", PASSWORD)
    assert locked.value.reason == "locked"
    clock.advance(seconds=LOCKOUT.total_seconds() + 1)
    login = operators.authenticate("abe", PASSWORD)
    assert (login.name, login.role) == ("abe", "agent")
    assert operators.get("abe").last_login_at == clock.now
    assert operators.get("abe").failures == 0


def test_a_reset_ends_older_sessions(center: PreferenceCenter) -> None:
    operators = Operators(center)
    first = operators.add("ada", "admin", PASSWORD)
    assert operators.current("ada", first.generation) is not None
    operators.reset("ada", "a new long password")
    assert operators.current("ada", first.generation) is None
    assert operators.current("ada", first.generation + 1) is not None


def _queue(center: PreferenceCenter, clock: Clock) -> list[int]:
    ids = []
    for number, mailbox in enumerate(["unsubscribe", "bounces", "unsubscribe"]):
        item = center.open_exception(
            mailbox=mailbox, why="free text", raw=b"Subject: x\r\n\r\nbody", evidence=f"<{number}>"
        )
        ids.append(item.id)
        clock.advance(hours=1)
    return ids


def test_a_page_of_the_queue_is_by_due_time_without_the_mail(
    center: PreferenceCenter, clock: Clock
) -> None:
    ids = _queue(center, clock)
    clock.now = center.exception(ids[1]).due_at + timedelta(minutes=1)  # two overdue, one not

    def page(**filters: Any) -> tuple[list[int], int]:
        args: dict[str, Any] = {
            "status": "open", "mailbox": None, "due_before": None, "limit": 2, "offset": 0
        }  # fmt: skip
        args.update(filters)
        items, total = center.store.read(lambda session: session.exception_page(**args))
        assert all(item.raw == b"" for item in items)
        return [item.id for item in items], total

    assert page() == (ids[:2], 3)
    assert page(offset=2) == (ids[2:], 3)
    assert page(mailbox="unsubscribe") == ([ids[0], ids[2]], 2)
    assert page(due_before=clock.now) == (ids[:2], 2)
    assert center.store.read(lambda session: session.exception_counts(clock.now)) == (3, 2)
    mailboxes = center.store.read(lambda session: session.exception_mailboxes())
    assert mailboxes == ["bounces", "unsubscribe"]


def test_the_report_counts_days_and_keeps_past_ones(
    open_center: Callable[..., PreferenceCenter], clock: Clock
) -> None:
    center = open_center(violation_grace="0s")
    center.suppress("a@example.org", source=Source.ONE_CLICK)
    center.suppress("b@example.org", source=Source.BOUNCE, hard=True)
    clock.advance(seconds=1)  # a send after the opt-out: a violation (no grace)
    center.record_sent("a@example.org", sender="crm", message_id="<late>")
    asked = clock.now - timedelta(days=3)
    center.suppress("c@example.org", source=Source.MAILTO, requested_at=asked)
    cache = DayCache()
    first = build_trends(center, days=7, cache=cache)
    assert first.by_source.total("one-click") == 1 and first.by_source.total("mailto") == 1
    assert first.by_channel.total("email") == 3
    assert first.honoured_in_time == (2, 3)  # the mailto one waited three days
    times = first.honour_times  # exact, as `prefcenter report` gives them
    assert (times.count, times.median, times.p95) == (3, timedelta(0), timedelta(days=3))
    assert dict(first.honour)["2-3 days"] == 0 and dict(first.honour)["3-10 days"] == 1
    assert first.bounces[-1] == 1 and first.sends[-1] == 1
    assert [v.message_id for v in first.violations] == ["<late>"]
    clock.advance(days=1)  # yesterday is complete now: counted once, then kept
    center.suppress("d@example.org", source=Source.WEB)
    second = build_trends(center, days=7, cache=cache)
    assert second.by_source.counts["one-click"][-2] == 1  # yesterday, from the store once
    assert second.by_source.counts["web"][-1] == 1
    assert second.violation_count == 1
    assert len(cache.days) == 7  # each complete past day of either period, counted once


def test_todays_counts_are_kept_a_few_seconds(center: PreferenceCenter, clock: Clock) -> None:
    cache = DayCache()
    center.suppress("a@example.org", source=Source.ONE_CLICK)
    first = build_trends(center, days=7, cache=cache)
    assert first.counted_at == clock.now
    center.suppress("b@example.org", source=Source.ONE_CLICK)
    center.open_exception(mailbox="unsubscribe", why="free text", raw=b"x", evidence="<1>")
    clock.advance(seconds=cache.today_ttl.total_seconds() - 1)
    again = build_trends(center, days=7, cache=cache)
    assert again.by_source.counts["one-click"][-1] == 1 and again.counted_at == first.counted_at
    assert again.open_exceptions == 1  # the queue is counted on every report
    clock.advance(seconds=1)
    later = build_trends(center, days=7, cache=cache)
    assert later.by_source.counts["one-click"][-1] == 2 and later.counted_at == clock.now


def test_a_story_holds_linked_identities_contacts_and_history(center: PreferenceCenter) -> None:
    center.link("pat@example.org", "+14155550100", second_channel="sms", source=Source.CLI)
    center.suppress("pat@example.org", source=Source.WEB, reason="asked")
    for number in range(2):
        center.record_sent("pat@example.org", message_id=f"<{number}>")
    story = build_story(center, "pat@example.org")
    channels = [facet.identity.channel.value for facet in story.facets]
    assert channels == ["email", "sms"]
    email = story.facets[0]
    assert email.decisions[0][1].reason == Reason.UNSUBSCRIBED_GLOBAL
    assert (email.contacts.week, email.contacts.month) == (2, 2)
    assert story.facets[1].identity.address == "+14155550100"
    assert {e.action.value for e in story.history} == {"link", "suppress"}
    by_phone = build_story(center, "+14155550100")
    assert {f.identity.channel.value for f in by_phone.facets} == {"sms", "voice", "email"}
