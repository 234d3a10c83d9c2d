"""The report counted by the database agrees with the report read event by event.

``tally_store`` (two grouped statements) replaced reading every event of the period into
Python (``tally_events``); on a fixed log with every case the report distinguishes, both
backends must give exactly what the event-by-event reading gives.
"""

from __future__ import annotations

from datetime import timedelta

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Channel, Scope, Source
from prefcenter.report import HonourTimes, build_report
from prefcenter.report.compliance import tally_events, tally_store
from prefcenter.store.protocol import NewEvent
from tests.store.conftest import Clock

HASH = bytes(range(16))


def fill_log(center: PreferenceCenter, clock: Clock) -> None:
    """Events of every kind the report tells apart, some outside the period."""
    start = clock.now
    cases: list[tuple[int, Action, Source, Channel | None, str, str | None, int | None]] = [
        # minutes after start, action, source, channel, detail, reason, requested seconds before
        (-5, Action.SUPPRESS, Source.ONE_CLICK, Channel.EMAIL, "", None, None),  # before
        (0, Action.SUPPRESS, Source.ONE_CLICK, Channel.EMAIL, "", None, None),  # at since
        (1, Action.SUPPRESS, Source.ONE_CLICK, Channel.EMAIL, "", None, 0),
        (2, Action.OPT_OUT, Source.MAILTO, Channel.EMAIL, "", None, 7200),
        (3, Action.OPT_OUT, Source.MAILTO, None, "", None, 30),
        (4, Action.SUPPRESS, Source.WEB, Channel.SMS, "", None, -60),  # asked "after"
        (5, Action.RESUBSCRIBE, Source.CLI, Channel.EMAIL, "", "asked", None),
        (6, Action.OPT_IN, Source.WEB, Channel.SMS, "", None, None),
        (7, Action.SET_FREQUENCY, Source.WEB, Channel.EMAIL, "7", None, None),
        (8, Action.PAUSE, Source.WEB, Channel.EMAIL, "2026-04-01", None, None),
        (9, Action.FEEDBACK, Source.ONE_CLICK, Channel.EMAIL, "too-many", None, None),
        (10, Action.FEEDBACK, Source.ONE_CLICK, Channel.EMAIL, "too-many", None, None),
        (11, Action.FEEDBACK, Source.WEB, Channel.EMAIL, "not-relevant", None, None),
        (12, Action.SOFT_BOUNCE, Source.BOUNCE, Channel.EMAIL, "mailbox-full", None, None),
        (13, Action.SOFT_BOUNCE, Source.BOUNCE, Channel.EMAIL, "", None, None),
        (14, Action.BOUNCE, Source.BOUNCE, Channel.EMAIL, "policy", None, None),
        (15, Action.BOUNCE, Source.COMPLAINT, Channel.EMAIL, "", None, None),
        (
            16,
            Action.SUPPRESS,
            Source.BOUNCE,
            Channel.EMAIL,
            "",
            "bounce: user-unknown (550 5.1.1)",
            5,
        ),
        (17, Action.SUPPRESS, Source.BOUNCE, Channel.EMAIL, "", "bounce: user-unknown", 5),
        (18, Action.SUPPRESS, Source.BOUNCE, Channel.EMAIL, "", "bounce:no-such-domain ( x )", 3),
        (19, Action.SUPPRESS, Source.BOUNCE, Channel.EMAIL, "", "bounce score 5 (mailbox-full)", 1),
        (20, Action.SUPPRESS, Source.COMPLAINT, Channel.EMAIL, "", "Bounce: shouting", None),
        (21, Action.FORGET, Source.CLI, Channel.EMAIL, "", None, None),
        (22, Action.RESUME, Source.API, Channel.VOICE, "", None, 86400),
        (60, Action.SUPPRESS, Source.ONE_CLICK, Channel.EMAIL, "", None, 1),  # at until
        (61, Action.SUPPRESS, Source.ONE_CLICK, Channel.EMAIL, "", None, 1),  # after
    ]
    with center.store.transaction() as session:
        for number, (minutes, action, source, channel, detail, reason, before) in enumerate(cases):
            at = start + timedelta(minutes=minutes, milliseconds=number)
            requested = None if before is None else at - timedelta(seconds=before)
            event = NewEvent(
                at=at, identity_hash=HASH, action=action, source=source, channel=channel,
                scope=Scope.GLOBAL, reason=reason, evidence=f"case-{number}",
                requested_at=requested, detail=detail,
            )  # fmt: skip
            assert session.append_event(event)


def test_sums_in_sql_equal_the_event_by_event_reading(
    center: PreferenceCenter, clock: Clock
) -> None:
    fill_log(center, clock)
    since, until = clock.now, clock.now + timedelta(minutes=60, milliseconds=24)
    for low, high in [(since, until), (None, until), (None, until + timedelta(hours=1))]:
        by_event = tally_events(center.store.events(low, high))
        assert tally_store(center, low, high) == by_event
    counted = tally_store(center, since, until)
    assert counted.bounces == {
        "evidence: policy": 1,
        "evidence: unknown": 1,
        "hard: no-such-domain": 1,
        "hard: score limit": 1,
        "hard: user-unknown": 2,
        "scored: mailbox-full": 1,
    }
    assert counted.feedback == {"not-relevant": 1, "too-many": 2}
    assert counted.requests["mailto"] == {"email": 1, "unknown": 1}
    # Opt-outs in the period: delays 0, 0, 2h, 30s, 0 (asked "later"), 5s, 5s, 3s, 1s, 0.
    assert counted.honour == HonourTimes(
        count=10,
        median=timedelta(seconds=2),
        p95=timedelta(hours=2),
        max=timedelta(hours=2),
    )
    empty = tally_store(center, until + timedelta(days=1), until + timedelta(days=2))
    assert empty.honour == HonourTimes(count=0)
    assert (empty.requests, empty.bounces, empty.feedback) == ({}, {}, {})


def test_report_shows_violations_of_its_period_only(center: PreferenceCenter, clock: Clock) -> None:
    start = clock.now
    center.suppress("alice@example.com", source=Source.ONE_CLICK)
    clock.advance(days=30)
    for day in (3, 10, 20):
        center.record_sent("alice@example.com", at=start + timedelta(days=day), sender="crm")
    every = center.store.violations(center.settings.violation_grace)
    assert [v.contact.at for v in every] == [start + timedelta(days=d) for d in (3, 10, 20)]
    report = build_report(center, since=start + timedelta(days=5), until=start + timedelta(days=20))
    # ``until`` is inclusive for sends, as it was when every violation was read.
    assert [v.sent_at for v in report.violations] == [
        start + timedelta(days=10),
        start + timedelta(days=20),
    ]
    whole = build_report(center)
    assert [v.sent_at for v in whole.violations] == [v.contact.at for v in every]
    assert whole.violations[0].address == "alice@example.com"
