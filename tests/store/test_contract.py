"""The store contract, run against a SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from prefcenter.center import PreferenceCenter, Recipient
from prefcenter.errors import InvalidInput, ReasonRequired
from prefcenter.model import Action, Channel, Kind, Reason, Scope, Source
from prefcenter.store import postgres
from tests.store.conftest import Clock

ALICE = "alice@example.com"
BOB = "bob@example.com"
CLI = Source.CLI


def reason(
    center: PreferenceCenter, recipient: Recipient, topic: str | None = None, **kw: object
) -> str:
    return center.check(recipient, topic, **kw).reason.value  # type: ignore[arg-type]


def test_a_new_identity_may_be_contacted(center: PreferenceCenter) -> None:
    decision = center.check(ALICE)
    assert decision.allowed
    assert decision.reason is Reason.ALLOWED
    assert decision.identity_hash == center.identity(ALICE).hash_hex


def test_global_suppression_blocks_marketing_not_transactional(
    center: PreferenceCenter, clock: Clock
) -> None:
    assert center.suppress("Alice+promo@Example.COM", source=Source.ONE_CLICK, evidence="r1")
    decision = center.check(ALICE)
    assert (decision.allowed, decision.reason) == (False, Reason.UNSUBSCRIBED_GLOBAL)
    assert decision.since == clock.now
    assert decision.source is Source.ONE_CLICK
    assert center.check(ALICE, "news").reason is Reason.UNSUBSCRIBED_GLOBAL
    assert center.check(ALICE, kind="transactional").allowed


def test_hard_suppression_blocks_everything(center: PreferenceCenter) -> None:
    assert center.suppress(ALICE, hard=True, reason="550 5.1.1", source=Source.BOUNCE)
    for kind in (Kind.MARKETING, Kind.TRANSACTIONAL):
        decision = center.check(ALICE, kind=kind)
        assert (decision.allowed, decision.reason) == (False, Reason.HARD_SUPPRESSED)
        assert decision.scope is Scope.HARD


def test_hard_outranks_global_and_global_outranks_topic(center: PreferenceCenter) -> None:
    center.suppress(ALICE, topic="news", source=CLI)
    assert reason(center, ALICE, "news") == "unsubscribed_topic"
    assert reason(center, ALICE, "offers") == "allowed"
    assert reason(center, ALICE) == "allowed"
    center.suppress(ALICE, source=CLI)
    assert reason(center, ALICE, "news") == "unsubscribed_global"
    center.suppress(ALICE, hard=True, source=Source.COMPLAINT)
    assert reason(center, ALICE, "news") == "hard_suppressed"


def test_suppressions_are_per_channel(open_center: Callable[..., PreferenceCenter]) -> None:
    center = open_center(phone_opt_out="channel")
    center.suppress("+14155550100", channel="sms", source=CLI)
    assert reason(center, "+1 415 555 0100", channel="sms") == "unsubscribed_global"
    assert reason(center, "+14155550100", channel=Channel.VOICE) == "allowed"


def test_a_number_s_marketing_opt_out_covers_texts_and_calls(center: PreferenceCenter) -> None:
    """THE SMS/voice rule, on both backends: PHONE_OPT_OUT=texts_and_calls (the default)."""
    center.suppress("+14155550100", channel="sms", source=CLI)
    center.suppress("+14155550101", channel="voice", topic="offers", source=CLI)
    center.suppress("+14155550102", channel="sms", hard=True, source=CLI)
    assert reason(center, "+14155550100", channel=Channel.VOICE) == "unsubscribed_global"
    assert reason(center, "+14155550101", "offers", channel="sms") == "unsubscribed_topic"
    assert reason(center, "+14155550101", "news", channel="sms") == "allowed"
    assert reason(center, "+14155550102", channel=Channel.VOICE) == "allowed"  # hard: per channel
    refused = center.filter(["+14155550100", "+14155550102"], channel="voice")
    assert refused.sendable == ["+14155550102"]


def test_same_evidence_changes_nothing_and_logs_once(center: PreferenceCenter) -> None:
    assert center.suppress(ALICE, source=Source.MAILTO, evidence="<m1@x>")
    assert not center.suppress(ALICE, source=Source.MAILTO, evidence="<m1@x>")
    assert not center.suppress("ALICE@example.com", source=Source.MAILTO, evidence="<m1@x>")
    assert [e.action for e in center.history(ALICE)] == [Action.SUPPRESS]


def test_suppressing_twice_is_one_suppression_and_two_events(center: PreferenceCenter) -> None:
    assert center.suppress(ALICE, source=CLI)
    assert not center.suppress(ALICE, source=CLI)
    assert len(center.suppressions(ALICE)) == 1
    assert len(center.history(ALICE)) == 2


def test_a_replayed_request_does_not_undo_a_later_change(center: PreferenceCenter) -> None:
    center.suppress(ALICE, source=Source.ONE_CLICK, evidence="req-1")
    center.resubscribe(ALICE, reason="called support", source=CLI, evidence="ticket-9")
    assert not center.suppress(ALICE, source=Source.ONE_CLICK, evidence="req-1")
    assert center.check(ALICE).allowed


def test_events_record_source_evidence_and_requested_at(
    center: PreferenceCenter, clock: Clock
) -> None:
    asked = clock.now - timedelta(hours=5)
    center.suppress(
        ALICE,
        topic="news",
        reason="reply",
        source=Source.MAILTO,
        evidence="<m@x>",
        requested_at=asked,
    )
    (event,) = center.history(ALICE)
    assert (event.action, event.source, event.scope, event.topic) == (
        Action.SUPPRESS,
        Source.MAILTO,
        Scope.TOPIC,
        "news",
    )
    assert (event.evidence, event.requested_at, event.at, event.reason) == (
        "<m@x>",
        asked,
        clock.now,
        "reply",
    )
    assert event.identity_hash == center.identity(ALICE).hash_hex


def test_resubscribe_requires_a_reason(center: PreferenceCenter) -> None:
    center.suppress(ALICE, source=CLI)
    with pytest.raises(ReasonRequired) as caught:
        center.resubscribe(ALICE, reason="  ", source=CLI)
    assert str(caught.value) == (
        "Resubscribe needs a reason (got '  '); say why, e.g. 'customer asked by phone'."
    )
    assert not center.check(ALICE).allowed


def test_resubscribe_lifts_global_and_records_the_reason(center: PreferenceCenter) -> None:
    center.suppress(ALICE, source=CLI)
    assert center.resubscribe(ALICE, reason="asked in shop", source=CLI)
    assert center.check(ALICE).allowed
    assert not center.resubscribe(ALICE, reason="again", source=CLI)
    assert center.history(ALICE)[1].reason == "asked in shop"


def test_resubscribe_never_lifts_hard_unless_asked(center: PreferenceCenter) -> None:
    center.suppress(ALICE, hard=True, source=Source.BOUNCE)
    assert not center.resubscribe(ALICE, reason="try again", source=CLI)
    assert reason(center, ALICE) == "hard_suppressed"
    assert center.resubscribe(ALICE, hard=True, reason="mailbox fixed", source=CLI)
    assert center.check(ALICE, kind="transactional").allowed


def test_topic_choices(center: PreferenceCenter) -> None:
    assert center.set_topic(ALICE, "news", False, source=Source.WEB)
    assert not center.set_topic(ALICE, "news", False, source=Source.WEB)
    assert reason(center, ALICE, "news") == "unsubscribed_topic"
    assert reason(center, ALICE, "offers") == "allowed"
    assert center.preferences(ALICE).topics == {"news": False}
    center.suppress(ALICE, topic="offers", source=Source.ONE_CLICK)
    assert center.set_topic(ALICE, "offers", True, source=Source.WEB)
    assert reason(center, ALICE, "offers") == "allowed"
    assert center.resubscribe(ALICE, topic="news", reason="ticked box", source=Source.WEB)
    assert reason(center, ALICE, "news") == "allowed"


def test_pause_and_resume(center: PreferenceCenter, clock: Clock) -> None:
    until = clock.now + timedelta(days=10)
    assert center.pause(ALICE, until, source=Source.WEB)
    decision = center.check(ALICE)
    assert (decision.reason, decision.until) == (Reason.PAUSED, until)
    assert center.check(ALICE, at=until).allowed
    assert center.check(ALICE, kind="transactional").allowed
    assert center.preferences(ALICE).paused_until == until
    assert center.resume(ALICE, source=Source.WEB)
    assert not center.resume(ALICE, source=Source.WEB)
    assert center.check(ALICE).allowed


def test_frequency_ceiling(center: PreferenceCenter, clock: Clock) -> None:
    assert center.set_frequency(ALICE, 7, source=Source.WEB)
    assert center.check(ALICE).allowed
    center.record_sent(ALICE, sender="crm")
    decision = center.check(ALICE)
    assert (decision.reason, decision.until) == (
        Reason.FREQUENCY_CEILING,
        clock.now + timedelta(days=7),
    )
    assert center.check(ALICE, at=clock.now + timedelta(days=7)).allowed
    center.record_sent(ALICE, kind="transactional")
    assert center.check(ALICE, kind="transactional").allowed
    assert center.set_frequency(ALICE, None, source=Source.WEB)
    assert center.check(ALICE).allowed
    with pytest.raises(InvalidInput, match="Frequency 0 is not usable"):
        center.set_frequency(ALICE, 0, source=Source.WEB)


def test_store_wide_frequency_cap_counts_all_senders(
    center: PreferenceCenter, clock: Clock
) -> None:
    for sender in ("crm", "agent-1", "agent-2"):
        assert center.check(BOB).allowed
        center.record_sent(BOB, sender=sender)
        clock.advance(days=1)
    decision = center.check(BOB)
    assert decision.reason is Reason.FREQUENCY_CAP
    assert decision.until == clock.now + timedelta(days=4)
    assert center.check(BOB, at=clock.now + timedelta(days=4, seconds=1)).allowed
    assert center.check(BOB, channel="email", kind="transactional").allowed


def test_frequency_cap_can_be_off(open_center: object) -> None:
    center = open_center(frequency_cap="off")  # type: ignore[operator]
    for _ in range(10):
        center.record_sent(BOB)
    assert center.check(BOB).allowed


def test_person_wide_opt_out_covers_identities_linked_before_and_after(
    center: PreferenceCenter,
) -> None:
    phone = "+14155550100"
    assert center.link(ALICE, phone, second_channel="sms", source=Source.API)
    assert not center.link(ALICE, phone, second_channel="sms", source=Source.API)
    center.suppress(phone, channel="sms", all_channels=True, source=Source.API)
    assert reason(center, ALICE) == "unsubscribed_global"
    assert reason(center, phone, channel="sms") == "unsubscribed_global"
    center.link(BOB, ALICE, source=Source.API)  # a group joining another keeps the opt-out
    assert reason(center, BOB) == "unsubscribed_global"
    assert reason(center, "carol@example.com") == "allowed"
    center.link("carol@example.com", BOB, source=Source.API)
    assert reason(center, "carol@example.com") == "unsubscribed_global"


def test_linking_never_weakens_and_channel_opt_outs_stay_on_their_identity(
    center: PreferenceCenter,
) -> None:
    center.suppress(ALICE, source=CLI)
    center.suppress(BOB, hard=True, source=Source.BOUNCE)
    center.link(ALICE, BOB, source=CLI)
    assert reason(center, ALICE) == "unsubscribed_global"
    assert reason(center, BOB) == "hard_suppressed"
    center.link("carol@example.com", ALICE, source=CLI)
    assert reason(center, "carol@example.com") == "allowed"


def test_resubscribe_lifts_a_person_wide_opt_out_for_the_person(center: PreferenceCenter) -> None:
    center.link(ALICE, BOB, source=CLI)
    center.suppress(BOB, all_channels=True, source=CLI)
    assert center.resubscribe(ALICE, reason="wants news again", source=CLI)
    assert center.check(ALICE).allowed
    assert center.check(BOB).allowed


def test_forget_erases_the_address_but_keeps_the_opt_out(center: PreferenceCenter) -> None:
    center.suppress(ALICE, source=Source.ONE_CLICK, evidence="r1")
    assert [s.address for s in center.export()] == [ALICE]
    assert center.forget(ALICE, source=CLI, evidence="gdpr-7")
    assert not center.forget(ALICE, source=CLI, evidence="gdpr-7")
    assert [s.address for s in center.export()] == [None]
    assert center.suppressions(ALICE)[0].address is None
    assert reason(center, ALICE) == "unsubscribed_global"
    center.record_sent(ALICE)  # a later send does not bring the address back
    assert [s.address for s in center.export()] == [None]
    assert [e.action for e in center.history(ALICE)] == [Action.SUPPRESS, Action.FORGET]


def test_forget_of_an_unknown_identity_blocks_storing_its_address(center: PreferenceCenter) -> None:
    assert center.forget(ALICE, source=CLI)
    center.suppress(ALICE, source=CLI)
    assert [s.address for s in center.export()] == [None]


def test_soft_bounces_become_hard_at_the_limit(center: PreferenceCenter, clock: Clock) -> None:
    results = []
    for number in range(4):
        results.append(
            center.record_soft_bounce(ALICE, source=Source.BOUNCE, evidence=f"d{number}")
        )
        clock.advance(days=1)
    assert results == [False, False, True, False]
    assert reason(center, ALICE) == "hard_suppressed"
    assert not center.record_soft_bounce(ALICE, source=Source.BOUNCE, evidence="d0")


def test_soft_bounces_outside_the_window_do_not_count(
    center: PreferenceCenter, clock: Clock
) -> None:
    for number in range(3):
        assert not center.record_soft_bounce(ALICE, source=Source.BOUNCE, evidence=f"d{number}")
        clock.advance(days=10)
    assert center.check(ALICE).allowed


def test_filter_canonicalises_dedupes_and_gives_reasons(center: PreferenceCenter) -> None:
    center.suppress(ALICE, source=CLI)
    center.suppress("carol@example.com", topic="news", source=CLI)
    rows = ["Bob@Example.com", "not an address", ALICE, "bob+x@example.com", "carol@example.com"]
    result = center.filter(rows, "news")
    assert result.sendable == ["Bob@Example.com"]
    assert [(r.recipient, r.reason) for r in result.refused] == [
        ("not an address", Reason.INVALID),
        (ALICE, Reason.UNSUBSCRIBED_GLOBAL),
        ("bob+x@example.com", Reason.DUPLICATE),
        ("carol@example.com", Reason.UNSUBSCRIBED_TOPIC),
    ]
    assert center.filter(rows).counts() == {
        "sendable": 2,
        "invalid": 1,
        "unsubscribed_global": 1,
        "duplicate": 1,
    }


def test_filter_stream_keeps_order_across_chunks(center: PreferenceCenter) -> None:
    people = [f"user{n}@example.com" for n in range(50)]
    for person in people[::7]:
        center.suppress(person, source=Source.IMPORT)
    rows = [(n, person) for n, person in enumerate(people + people[:5])]
    out = list(center.filter_stream(rows, lambda row: row[1], chunk_size=8))
    assert [row for row, _ in out] == rows
    refused = {row[0]: refusal.reason for row, refusal in out if refusal is not None}
    expected = dict.fromkeys(range(0, 50, 7), Reason.UNSUBSCRIBED_GLOBAL)
    expected.update({50 + n: Reason.DUPLICATE for n in range(5)})
    assert refused == expected


def test_filter_agrees_with_check(
    center: PreferenceCenter, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    center.pause("p@example.com", clock.now + timedelta(days=1), source=Source.WEB)
    center.set_frequency("f@example.com", 30, source=Source.WEB)
    center.record_sent("f@example.com")
    center.link("l@example.com", "m@example.com", source=CLI)
    center.suppress("m@example.com", all_channels=True, source=CLI)
    center.set_topic("t@example.com", "news", False, source=Source.WEB)
    # The cap (3 in 7 days by default) alone, and under rules that come before it.
    center.pause("cp@example.com", clock.now + timedelta(days=1), source=Source.WEB)
    center.suppress("cs@example.com", source=CLI)
    center.suppress("ch@example.com", hard=True, source=CLI)
    center.set_topic("ct@example.com", "news", True, source=Source.WEB)
    for person in ("c", "cp", "cs", "ch", "ct"):
        for _ in range(3):
            center.record_sent(f"{person}@example.com")
    center.record_sent("c2@example.com")
    center.record_sent("c2@example.com")
    people = [f"{p}@example.com" for p in [*"pflmtcz", "cp", "cs", "ch", "ct", "c2"]]
    for kind in ("marketing", "transactional"):
        for topic in ("news", None):
            result = center.filter(people, topic, kind=kind)
            refused = {r.recipient: r.reason for r in result.refused}
            # The same list asked from the in-memory index, and chunk by chunk from the
            # store (index_limit=0), must answer as check does.
            with center.screen(topic, kind=kind, expected_rows=10**9) as indexed:
                from_index = indexed(people)
                assert indexed.indexed
            with center.screen(topic, kind=kind) as asked:
                asked.index_limit = 0
                from_store = asked(people)
                assert not asked.indexed
            # And held in a window, asked in key order (PostgreSQL: staged in a
            # temporary table however few they are).
            with (
                monkeypatch.context() as patch,
                center.screen(topic, kind=kind, parallel=True) as windowed,
            ):
                patch.setattr(postgres, "STAGE_MIN", 0)
                held = [windowed.submit(people[at : at + 3]) for at in range(0, len(people), 3)]
                from_window = [reason for answer in held for reason in answer()]
                assert windowed.window_bytes > 0
            for n, person in enumerate(people):
                expected = center.check(person, topic, kind=kind).reason
                assert refused.get(person, Reason.ALLOWED) is expected, (person, kind, topic)
                assert (from_index[n] or Reason.ALLOWED) is expected, (person, kind, topic)
                assert (from_store[n] or Reason.ALLOWED) is expected, (person, kind, topic)
                assert (from_window[n] or Reason.ALLOWED) is expected, (person, kind, topic)


def test_transaction_commits_everything_or_nothing(center: PreferenceCenter) -> None:
    with center.transaction() as changes:
        assert changes.suppress(ALICE, source=Source.ONE_CLICK, evidence="a")
        assert changes.suppress(BOB, source=Source.ONE_CLICK, evidence="b")
    assert not center.check(ALICE).allowed and not center.check(BOB).allowed

    def failing() -> None:
        with center.transaction() as changes:
            changes.suppress("carol@example.com", source=Source.MAILTO)
            changes.open_exception(mailbox="unsubscribe", why="no token", raw=b"raw")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing()
    assert center.check("carol@example.com").allowed
    assert center.history("carol@example.com") == []
    assert center.exceptions() == []


def test_nested_calls_join_the_open_transaction(center: PreferenceCenter) -> None:

    def failing() -> None:
        with center.transaction():
            center.suppress(ALICE, source=CLI)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError, match="roll back"):
        failing()
    assert center.check(ALICE).allowed


def test_exceptions_queue(center: PreferenceCenter, clock: Clock) -> None:
    first = center.open_exception(
        mailbox="unsubscribe",
        why="no token",
        raw=b"From: a\r\n\r\nstop",
        summary="stop",
        evidence="<m1@x>",
    )
    assert (first.status, first.due_at, first.raw) == (
        "open",
        clock.now + timedelta(days=2),
        b"From: a\r\n\r\nstop",
    )
    assert center.open_exception(mailbox="x", why="y", raw=b"", evidence="<m1@x>") == first
    clock.advance(hours=1)
    second = center.open_exception(mailbox="fbl", why="unknown format", raw=b"2")
    assert [item.id for item in center.exceptions()] == [first.id, second.id]
    with pytest.raises(ReasonRequired):
        center.resolve_exception(first.id, suppress=ALICE, reason="", source=CLI)
    done = center.resolve_exception(first.id, suppress=ALICE, reason="asked to stop", source=CLI)
    assert (done.status, done.resolution, done.resolved_at) == (
        "resolved",
        "asked to stop",
        clock.now,
    )
    assert reason(center, ALICE) == "unsubscribed_global"
    assert center.history(ALICE)[0].evidence == f"exception:{first.id}"
    # Requested when the mail arrived, so time-to-honour counts its wait in the queue.
    assert center.history(ALICE)[0].requested_at == first.received_at
    dismissed = center.resolve_exception(second.id, dismiss=True, reason="spam", source=CLI)
    assert dismissed.status == "dismissed"
    assert center.exceptions() == []
    assert len(center.exceptions(status=None)) == 2
    assert center.exception(first.id) == done


def test_reports_events_violations_and_counts(center: PreferenceCenter, clock: Clock) -> None:
    start = clock.now
    center.suppress(ALICE, source=Source.ONE_CLICK)
    center.suppress(BOB, topic="news", source=Source.ONE_CLICK)
    clock.advance(days=5)  # the sends below are recorded once they happened
    center.record_sent(ALICE, at=start + timedelta(days=1), sender="crm")  # in grace
    center.record_sent(ALICE, at=start + timedelta(days=3), sender="crm", message_id="<v>")
    center.record_sent(ALICE, at=start + timedelta(days=3), kind="transactional")
    center.record_sent(BOB, topic="offers", at=start + timedelta(days=3))
    center.record_sent(BOB, topic="news", at=start + timedelta(days=4))
    found = center.store.violations(center.settings.violation_grace)
    assert [(v.contact.message_id, v.contact.topic, v.suppression.scope) for v in found] == [
        ("<v>", None, Scope.GLOBAL),
        (None, "news", Scope.TOPIC),
    ]
    clock.advance(hours=1)
    center.resubscribe(BOB, topic="news", reason="r", source=CLI)
    assert len(list(center.store.events())) == 3
    assert len(list(center.store.events(since=start + timedelta(minutes=1)))) == 1
    assert len(list(center.store.events(until=start + timedelta(minutes=1)))) == 2
    counts = center.store.counts()
    assert (counts["suppressions"], counts["events"], counts["contacts"]) == (1, 3, 5)


def test_tokens_round_trip_to_identity_and_topic(center: PreferenceCenter) -> None:
    from prefcenter.tokens import Purpose

    url = center.unsubscribe_url("Alice@Example.com", "news")
    claims = center.verify_token(url.rsplit("/", 1)[1], Purpose.UNSUBSCRIBE)
    assert center.topic_name(claims.topic_digest) == "news"
    assert center.identity_from_claims(claims).address == ""  # never stored by signing
    center.suppress(ALICE, topic=center.topic_name(claims.topic_digest), source=Source.ONE_CLICK)
    identity = center.identity_from_claims(claims)
    assert (identity.address, identity.hash) == (ALICE, center.identity(ALICE).hash)
    assert reason(center, identity, "news") == "unsubscribed_topic"


def test_lifting_a_person_wide_opt_out_keeps_a_channel_opt_out(center: PreferenceCenter) -> None:
    phone = "+14155550100"
    center.suppress(ALICE, source=Source.ONE_CLICK)  # Alice's own email opt-out
    center.link(ALICE, phone, second_channel="sms", source=Source.API)
    center.suppress(phone, channel="sms", all_channels=True, source=Source.API)
    assert center.resubscribe(phone, channel="sms", reason="texts again", source=Source.API)
    assert reason(center, phone, channel="sms") == "allowed"
    assert reason(center, ALICE) == "unsubscribed_global"


def test_export_pages_through_every_suppression(center: PreferenceCenter) -> None:
    from prefcenter.store import base

    people = [f"user{n}@example.com" for n in range(23)]
    with center.transaction() as changes:
        for person in people:
            changes.suppress(person, source=Source.IMPORT)
            changes.suppress(person, all_channels=True, source=Source.IMPORT)
    original, base.PAGE = base.PAGE, 4
    try:
        exported = list(center.export())
    finally:
        base.PAGE = original
    assert len(exported) == 46
    assert sorted(str(s.address) for s in exported) == sorted(people * 2)


def test_events_pages_through_ties_in_time_once_each(
    center: PreferenceCenter, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: the log is paged on (time, id) from the period's start; events that
    share a millisecond across a page boundary come once each, in id order."""
    import prefcenter.store.base

    monkeypatch.setattr(prefcenter.store.base, "PAGE", 2)
    start = clock.now
    for n in range(5):  # five at one instant, then two later
        center.suppress(f"tie{n}@example.com", source=Source.ONE_CLICK)
    clock.advance(minutes=1)
    center.suppress("late1@example.com", source=Source.ONE_CLICK)
    center.suppress("late2@example.com", source=Source.ONE_CLICK)
    found = list(center.store.events())
    assert len(found) == 7 and len({event.id for event in found}) == 7
    assert [event.id for event in found] == sorted(event.id for event in found)
    later = list(center.store.events(since=start + timedelta(seconds=30)))
    assert [event.at for event in later] == [start + timedelta(minutes=1)] * 2
