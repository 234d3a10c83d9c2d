"""Write provider events through the center's change methods, in one transaction.

:func:`record` is what the sidecar's ``/hooks`` routes hand to the group commit: every
event of one request (a SendGrid batch of a thousand included) is written in the same
transaction, each by the change method a person's own action would use, so the audit
log reads alike whoever reported the opt-out. Each event's evidence is the provider's
event id: a redelivered request changes nothing.

Bounces go through the bounce policy (:mod:`prefcenter.bounces.policy`), as a bounce by
mail does: the reason is read from the provider's status and words, a verified
signature is the proof, and so a dead address stops mail at once, a full mailbox adds to
the person's score, and a refusal about us (spam filtering, policy, size) never counts
against the recipient, whatever the provider called it. An event whose address or number cannot be
used is skipped and counted (retrying would not make it usable); an unusable topic on
an opt-out stops all marketing instead (more than asked, never less). Only identity
hashes are written: a webhook never adds a clear address to the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prefcenter.bounces.policy import BounceAction, BounceReason, bounce_action
from prefcenter.bounces.reasons import reason_of
from prefcenter.center import PreferenceCenter
from prefcenter.changes import Changes, SuppressRequest
from prefcenter.changes.ledger import hard_bounce_reason
from prefcenter.errors import InvalidInput
from prefcenter.model import Identity, Source
from prefcenter.providers.event import EventKind, HookEvent
from prefcenter.topics import check_topic


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one request's events did.

    Attributes:
        events: events read from the request.
        changed: events that changed the store (a new suppression, a lifted one...).
        unchanged: events already recorded (a replay) or that changed nothing.
        ignored: events with nothing to do (deliveries, HELP, a bounce not the person's).
        invalid: events whose address or number cannot be used (skipped).
        exceptions: events queued for a person.
    """

    events: int
    changed: int
    unchanged: int
    ignored: int
    invalid: int
    exceptions: int


def record(tx: Changes, center: PreferenceCenter, events: Sequence[HookEvent]) -> Recorded:
    """Write ``events`` inside the transaction ``tx`` (from ``center.transaction()``).

    Raises:
        StoreError: the store failed; the caller's transaction rolls back, nothing is kept.
    """
    changed = unchanged = ignored = invalid = exceptions = 0
    run: list[SuppressRequest] = []

    def flush() -> None:
        nonlocal changed, unchanged
        if run:
            results = tx.suppress_many(run)
            changed += sum(results)
            unchanged += len(results) - sum(results)
            run.clear()

    for event in events:
        if event.kind is EventKind.IGNORE:
            ignored += 1
            continue
        if event.kind is EventKind.EXCEPTION:
            flush()
            item = tx.open_exception(
                mailbox=event.provider,
                why=event.reason,
                raw=event.message.encode("utf-8", "replace"),
                summary=event.audit_reason,
                evidence=event.evidence,
            )
            exceptions += 1 if item is not None else 0
            continue
        try:
            identity, topic = _subject(center, event)
        except InvalidInput:
            invalid += 1
            continue
        stop = _request(event, identity, topic)
        if stop is not None:
            # Opt-outs, hard bounces and complaints of a batch: a few statements in all.
            run.append(stop)
            continue
        flush()
        if _apply(tx, event, identity, topic):
            changed += 1
        else:
            unchanged += 1
    flush()
    return Recorded(len(events), changed, unchanged, ignored, invalid, exceptions)


_STOPS = {
    EventKind.SUPPRESS: Source.WEBHOOK,
    EventKind.COMPLAINT: Source.COMPLAINT,
}


def stop_request(center: PreferenceCenter, event: HookEvent) -> SuppressRequest | None:
    """The ``SuppressRequest`` a stop event (opt-out, complaint, dead address) writes.

    None for any other event (a soft bounce, a hard bounce about us), or one whose
    address or number cannot be used. The group commit writes consecutive requests from
    many webhooks in one ``suppress_many``, as it does one-clicks: what a single-event
    webhook (Postmark, Twilio) should use.
    """
    if event.kind not in _STOPS and event.kind is not EventKind.HARD_BOUNCE:
        return None
    try:
        identity, topic = _subject(center, event)
    except InvalidInput:
        return None
    return _request(event, identity, topic)


def _subject(center: PreferenceCenter, event: HookEvent) -> tuple[Identity, str | None]:
    """The identity (its hash only) and topic of ``event``; raises InvalidInput."""
    parsed = center.identity(event.recipient, event.channel)
    # The hash only: a provider's report is no reason to keep a clear address the
    # store did not already hold (one-click writes the same way).
    return Identity(parsed.channel, "", "", parsed.hash), _topic(event)


def _request(event: HookEvent, identity: Identity, topic: str | None) -> SuppressRequest | None:
    """The stop ``event`` writes, or None when it is not a stop (see :func:`stop_request`)."""
    source = _STOPS.get(event.kind)
    if source is not None:
        return SuppressRequest(
            identity,
            source,
            topic=topic,
            channel=event.channel,
            reason=event.audit_reason,
            evidence=event.evidence,
            hard=event.kind is EventKind.COMPLAINT,
        )
    if event.kind is not EventKind.HARD_BOUNCE:
        return None
    why = bounce_reason(event)
    if bounce_action(why, permanent=True, proven=True) is not BounceAction.HARD:
        return None  # about us (policy, content, size): the bounce policy records it
    # The hard suppression record_bounce writes for a dead address, word for word: the
    # same audit event and state, and a replay changes nothing either way.
    return SuppressRequest(
        identity,
        Source.BOUNCE,
        channel=event.channel,
        reason=hard_bounce_reason(why, event.audit_reason),
        evidence=event.evidence,
        hard=True,
    )


def _topic(event: HookEvent) -> str | None:
    try:
        return check_topic(event.topic)
    except InvalidInput:
        if event.kind is EventKind.RESUBSCRIBE:
            raise  # never lift more than asked: skip it
        return None  # stop all marketing rather than nothing


def _apply(tx: Changes, event: HookEvent, identity: Identity, topic: str | None) -> bool:
    reason = event.audit_reason
    if event.kind is EventKind.RESUBSCRIBE:
        return tx.resubscribe(
            identity,
            topic=topic,
            channel=event.channel,
            reason=reason,
            source=Source.WEBHOOK,
            evidence=event.evidence,
        )
    # A bounce: the policy decides; "changed" only when it stopped mail to the person.
    permanent = event.kind is EventKind.HARD_BOUNCE
    outcome = tx.record_bounce(
        identity,
        reason=bounce_reason(event),
        permanent=permanent,
        evidence=event.evidence,
        proven=True,  # the provider's verified signature says it concerns our message
        channel=event.channel,
        source=Source.BOUNCE,
        detail=reason,
    )
    return outcome.suppressed


#: Provider fields that name things (a message, stream, group, list, sender), never why a
#: delivery failed: a stream called "spam-digest" must not make a dead address "about us".
_NAMES = frozenset({"message", "stream", "group", "list", "source", "destination", "to"})


def bounce_reason(event: HookEvent) -> BounceReason:
    """The reason for a provider's bounce, from its status and words.

    Read from the event's reason and the provider fields that describe the failure
    (type, status, the server's words), not from identifiers. A provider that calls a
    bounce permanent without saying why is taken at its word (the address is dead); its
    words win when they say the refusal was about us.
    """
    words = [event.reason, *(value for name, value in event.fields if name not in _NAMES)]
    reason = reason_of("", " ".join(word for word in words if word))
    if reason is BounceReason.UNDECIDED and event.kind is EventKind.HARD_BOUNCE:
        return BounceReason.USER_UNKNOWN
    return reason


__all__ = ["Recorded", "record", "stop_request"]
