"""Provider events written by ``providers.record`` on both stores: every kind, one
transaction, a replay changing nothing, only hashes kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from prefcenter.bounces.policy import BounceReason
from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Channel, Reason, Scope, Source
from prefcenter.providers import sendgrid
from prefcenter.providers.event import EventKind, HookEvent
from prefcenter.providers.record import bounce_reason, record, stop_request
from tests.providers.signing import load
from tests.store.conftest import Clock


def _write(center: PreferenceCenter, events: list[HookEvent]) -> tuple[int, int, int, int, int]:
    with center.transaction() as tx:
        done = record(tx, center, events)
    return done.changed, done.unchanged, done.ignored, done.invalid, done.exceptions


def test_a_sendgrid_batch_is_written_once(center: PreferenceCenter) -> None:
    events = sendgrid.parse(json.dumps(load("sendgrid_batch.json")).encode(), {"12345": "news"})
    assert _write(center, events) == (5, 1, 0, 0, 0)
    assert _write(center, events) == (0, 6, 0, 0, 0)
    assert center.check("bounced@example.com").reason is Reason.HARD_SUPPRESSED
    assert center.check("spam@example.com").source is Source.COMPLAINT
    assert center.check("leaver@example.com").source is Source.WEBHOOK
    assert center.check("grouper@example.com", "news").scope is Scope.TOPIC
    actions = [event.action for event in center.history("blocked@example.com")]
    # SendGrid's "blocked" is a refusal about us (policy): evidence, never a point against
    # the recipient (the bounce policy, issue 21).
    assert actions == [Action.BOUNCE]
    (event,) = center.history("leaver@example.com")
    assert event.evidence == "sendgrid:ZmFrZS11bnN1Yi0wMDU"
    # A webhook never adds a clear address to the store.
    count = "SELECT count(*) FROM identities"  # the clear-address table, both backends
    stored = center.store.read(lambda session: session._one(count))  # type: ignore[attr-defined]
    assert stored[0] == 0


def test_every_kind_on_both_stores(center: PreferenceCenter) -> None:
    number = "+14155550123"

    def event(kind: EventKind, evidence: str, **kwargs: object) -> HookEvent:
        return HookEvent("generic", kind, number, Channel.SMS, evidence, "test", **kwargs)  # type: ignore[arg-type]

    events = [
        event(EventKind.SUPPRESS, "generic:1"),
        event(EventKind.RESUBSCRIBE, "generic:2"),
        event(EventKind.SUPPRESS, "generic:3", topic="deals"),
        event(EventKind.EXCEPTION, "generic:4", message="please stop texting me"),
        event(EventKind.IGNORE, "generic:5"),
        HookEvent("generic", EventKind.HARD_BOUNCE, "not a number", Channel.SMS, "generic:6"),
    ]
    assert _write(center, events) == (3, 0, 1, 1, 1)
    assert center.check(number, channel="sms").reason is Reason.ALLOWED
    assert center.check(number, "deals", channel="sms").reason is Reason.UNSUBSCRIBED_TOPIC
    assert len(center.exceptions()) == 1
    assert _write(center, events) == (0, 3, 1, 1, 1)
    assert len(center.exceptions()) == 1


def test_a_single_stop_is_a_suppress_request(center: PreferenceCenter) -> None:
    stop = HookEvent("postmark", EventKind.COMPLAINT, "john@example.com", Channel.EMAIL, "p:1")
    request = stop_request(center, stop)
    assert request is not None and request.hard and request.source is Source.COMPLAINT
    assert request.recipient.address == ""  # type: ignore[union-attr]  # the hash only
    with center.transaction() as tx:
        assert tx.suppress_many([request, request]) == [True, False]
    assert center.check("john@example.com").reason is Reason.HARD_SUPPRESSED
    invalid = HookEvent("postmark", EventKind.SUPPRESS, "nobody", Channel.EMAIL, "p:2")
    assert stop_request(center, invalid) is None
    # A hard bounce about us (policy words) is no stop: the bounce policy records it.
    about_us = HookEvent(
        "postmark", EventKind.HARD_BOUNCE, "john@example.com", Channel.EMAIL, "p:3",
        fields=(("details", "550 5.7.1 blocked by policy"),),
    )  # fmt: skip
    assert stop_request(center, about_us) is None
    soft = HookEvent("postmark", EventKind.SOFT_BOUNCE, "john@example.com", Channel.EMAIL, "p:4")
    assert stop_request(center, soft) is None


def test_a_batched_hard_bounce_writes_what_record_bounce_writes(center: PreferenceCenter) -> None:
    def bounce(address: str, evidence: str) -> HookEvent:
        details = (("details", "smtp;550 5.1.1 The email account does not exist."),)
        return HookEvent(
            "postmark", EventKind.HARD_BOUNCE, address, Channel.EMAIL, evidence,
            reason="HardBounce", fields=details,
        )  # fmt: skip

    batched = bounce("dead@example.com", "postmark:bounce:1")
    request = stop_request(center, batched)
    assert request is not None and request.hard and request.source is Source.BOUNCE
    with center.transaction() as tx:
        assert tx.suppress_many([request]) == [True]
        assert tx.suppress_many([request]) == [False]  # a replay changes nothing
    alone = bounce("gone@example.com", "postmark:bounce:2")
    outcome = center.record_bounce(
        "gone@example.com", reason=BounceReason.USER_UNKNOWN, permanent=True,
        evidence=alone.evidence, source=Source.BOUNCE, detail=alone.audit_reason,
    )  # fmt: skip
    assert outcome.suppressed
    (one,) = center.history("dead@example.com")
    (other,) = center.history("gone@example.com")
    assert one.reason == other.reason
    assert (one.reason or "").startswith("bounce: user-unknown (postmark:")
    same = ("action", "source", "scope", "topic", "channel", "detail")
    assert [getattr(one, name) for name in same] == [getattr(other, name) for name in same]
    decisions = [center.check(address) for address in ("dead@example.com", "gone@example.com")]
    assert [(d.reason, d.scope, d.source) for d in decisions] == 2 * [
        (Reason.HARD_SUPPRESSED, Scope.HARD, Source.BOUNCE)
    ]


def test_webhook_tokens_are_admitted_once_per_body_and_forgotten(
    open_center: Callable[..., PreferenceCenter], clock: Clock
) -> None:
    """Mailgun's one-use tokens live in the store, so every replica on it sees them."""
    center, replica = open_center(), open_center()
    window = timedelta(minutes=30)
    one, two = b"1" * 32, b"2" * 32
    with center.transaction() as tx:
        assert tx.admit_token(b"t" * 32, one, window)
        assert tx.admit_token(b"t" * 32, one, window)  # a redelivery: the same body
        assert not tx.admit_token(b"t" * 32, two, window)  # the signature replayed
    assert center.admit_token(b"u" * 32, two, window)  # a store transaction of its own
    assert not replica.admit_token(b"u" * 32, one, window)  # another process on the store
    clock.advance(minutes=30, seconds=1)
    assert center.admit_token(b"t" * 32, two, window)  # forgotten after the window
    assert not center.admit_token(b"t" * 32, one, window)


def test_a_bounce_is_judged_by_its_words_not_by_the_names_around_it() -> None:
    """A stream or message id that reads like a reason does not make a bounce "about us"."""
    named = (("type", "HardBounce"), ("details", ""), ("stream", "spam-digest"),
             ("message", "policy-5.7.1"))  # fmt: skip
    bounce = HookEvent(
        "postmark", EventKind.HARD_BOUNCE, "a@example.com", Channel.EMAIL, "p:1",
        reason="HardBounce", fields=named,
    )  # fmt: skip
    assert bounce_reason(bounce) is BounceReason.USER_UNKNOWN
    about_us = HookEvent(
        "postmark", EventKind.HARD_BOUNCE, "a@example.com", Channel.EMAIL, "p:2",
        reason="HardBounce", fields=(("details", "550 5.7.1 rejected as spam"), *named[2:]),
    )  # fmt: skip
    assert bounce_reason(about_us) is BounceReason.FILTERED
