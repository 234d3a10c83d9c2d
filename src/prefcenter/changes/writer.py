"""Every change of mind, written the same way whoever makes it: event first, then state.

:class:`Changes` is what ``PreferenceCenter`` inherits its mutation methods from and
what ``PreferenceCenter.transaction()`` yields. Each method appends its audit event
first; when the store says that event already exists (the same change with the same
evidence: a redelivered message, a retried request) nothing else happens and the
method returns False. Otherwise the state change is applied in the same transaction.

Resubscribe rules (decided here, documented in docs/store.md):

* ``resubscribe(topic=None)`` lifts the global suppression, ``resubscribe(topic=X)`` the
  topic suppression and a topic opt-out; a person-wide one on the identity's group is
  lifted too, since the same person asks.
* A hard suppression (bounce, complaint) is lifted only with ``hard=True``; a reason is
  always required.
* ``set_topic(X, True)`` is the person ticking the box on the preference page: it also
  lifts a topic suppression for X, never a global or hard one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from prefcenter.bounces.policy import BounceReason
from prefcenter.changes.binding import Binding, require_reason
from prefcenter.changes.ledger import BounceOutcome, Ledger
from prefcenter.changes.review import ReviewQueue
from prefcenter.core import Core, Recipient
from prefcenter.errors import InvalidInput
from prefcenter.inputs import aware, choice, requested
from prefcenter.model import (
    FEEDBACK_REASONS,
    Action,
    Channel,
    ExceptionItem,
    Kind,
    Scope,
    Source,
)
from prefcenter.store.protocol import NewEvent, Session
from prefcenter.topics import check_topic, topic_digest

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SuppressRequest:
    """The arguments of one :meth:`Changes.suppress` (not person-wide), for ``suppress_many``."""

    recipient: Recipient
    source: Source
    topic: str | None = None
    channel: Channel | str = "email"
    reason: str = ""
    evidence: str | None = None
    requested_at: datetime | None = None
    #: A hard stop (bounce, complaint): ``topic`` is ignored, as with ``suppress(hard=True)``.
    hard: bool = False


#: Longest frequency ceiling, in days (ten years): longer is a mistake, not a wish.
MAX_DAYS = 3650


class Changes:
    """The mutation methods of the contract, bound to a core and maybe a transaction.

    The contact ledger (:mod:`~prefcenter.changes.ledger`) and the exceptions queue
    (:mod:`~prefcenter.changes.review`) are written through the same binding, so their
    changes join the same transaction.
    """

    def __init__(self, core: Core, session: Session | None = None) -> None:
        self._core = core
        self._bind = Binding(core, session)
        self._ledger = Ledger(self._bind)
        self._review = ReviewQueue(self._bind, lambda session: Changes(core, session))

    def suppress(
        self,
        recipient: Recipient,
        *,
        topic: str | None = None,
        channel: Channel | str = "email",
        hard: bool = False,
        all_channels: bool = False,
        reason: str = "",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """Stop contact: hard (nothing at all), global (all marketing) or one topic.

        ``all_channels`` makes it person-wide: every linked identity, now or later.
        A hard suppression has no topic (``topic`` is ignored with ``hard=True``).
        Returns True when a suppression was added (a person-wide one is added beside any
        channel opt-out the identity already has).
        """
        identity = self._bind.subject(recipient, channel)
        topic = None if hard else check_topic(topic)
        scope = Scope.HARD if hard else Scope.TOPIC if topic else Scope.GLOBAL
        at = self._core.now()
        event = self._bind.event(
            identity,
            Action.SUPPRESS,
            source,
            at,
            scope=scope,
            topic=topic,
            reason=reason or None,
            evidence=evidence,
            requested_at=requested_at,
            detail="all-channels" if all_channels else "",
        )
        return self._bind.record(
            identity,
            topic,
            event,
            lambda session: session.suppress(
                identity.hash,
                identity.channel,
                scope,
                topic_digest(topic),
                all_channels=all_channels,
                reason=reason,
                source=choice(Source, source, "source"),
                at=at,
            ),
        )

    def suppress_many(self, requests: Sequence[SuppressRequest]) -> list[bool]:
        """``suppress`` for every request, in order and in one transaction; one result each.

        Writes the same audit events and suppressions as one ``suppress`` call per
        request (a replayed evidence changes nothing), with a few statements for the
        whole list instead of two per request: what group commit needs to keep up with
        a burst of one-click POSTs.

        Raises:
            InvalidRecipient, InvalidInput: a request cannot be used; nothing is written.
        """
        at = self._core.now()
        items: list[tuple[NewEvent, str | None]] = []
        addresses: list[tuple[bytes, str]] = []
        for request in requests:
            identity = self._bind.subject(request.recipient, request.channel)
            topic = None if request.hard else check_topic(request.topic)
            scope = Scope.HARD if request.hard else Scope.TOPIC if topic else Scope.GLOBAL
            # The event _event builds, spelled out: this loop runs once per request.
            event = NewEvent(
                at, identity.hash, Action.SUPPRESS, choice(Source, request.source, "source"),
                identity.channel, scope, topic, request.reason or None, request.evidence,
                requested(request.requested_at, at),
            )  # fmt: skip
            items.append((event, topic))
            if identity.address:
                addresses.append((identity.hash, identity.address))
        return self.suppress_events(items, addresses)

    def suppress_events(
        self, items: Sequence[tuple[NewEvent, str | None]], addresses: Sequence[tuple[bytes, str]]
    ) -> list[bool]:
        """``suppress_many`` of events already built and checked (each a global, topic or
        hard ``SUPPRESS`` with its topic), and the addresses to keep beside their hashes:
        for imports, which check a file's rows once while reading it. One transaction;
        one result per item, as ``suppress_many`` answers.

        Raises:
            StoreUnavailable: the store cannot be written; nothing is.
        """

        def one(session: Session, item: tuple[NewEvent, str | None]) -> bool:
            event, topic = item
            if not session.append_event(event):
                return False
            return session.suppress(
                event.identity_hash,
                event.channel or Channel.EMAIL,
                event.scope or Scope.GLOBAL,
                topic_digest(topic),
                all_channels=False,
                reason=event.reason or "",
                source=event.source,
                at=event.at,
            )

        def work(session: Session) -> list[bool]:
            if addresses:
                session.remember_many(addresses)
            # A topic this center registered in a committed transaction needs no statement.
            known = self._bind.core.topics
            digests = {topic: topic_digest(topic) for topic in {topic for _, topic in items}}
            for topic, digest in digests.items():
                if topic is not None and topic not in known:
                    session.register_topic(digest, topic)
            done = session.suppress_batch([(event, digests[topic]) for event, topic in items])
            if done is not None:
                return done
            return [one(session, item) for item in items]

        known = self._bind.core.topics
        if (
            self._bind.session is None
            and not addresses
            and all(topic is None or topic in known for _, topic in items)
        ):
            # Nothing to write but the batch: one statement is the whole transaction
            # where the store can (PostgreSQL); None, and nothing written, otherwise.
            rows = [(event, topic_digest(topic)) for event, topic in items]
            done = self._bind.core.store.suppress_alone(rows)
            if done is not None:
                return done
        return self._bind.run(work)

    def resubscribe(
        self,
        recipient: Recipient,
        *,
        topic: str | None = None,
        channel: Channel | str = "email",
        reason: str,
        source: Source,
        evidence: str | None = None,
        hard: bool = False,
        requested_at: datetime | None = None,
    ) -> bool:
        """Lift a global or topic suppression (a hard one only with ``hard=True``).

        Returns True when something was lifted. When nothing would be (no such
        suppression: maybe a different scope blocks the person), nothing is written,
        not even an audit event; :meth:`check` says what still blocks.

        Raises:
            ReasonRequired: ``reason`` is blank.
        """
        why = require_reason(reason, "Resubscribe")
        identity = self._bind.subject(recipient, channel)
        topic = None if hard else check_topic(topic)
        scope = Scope.HARD if hard else Scope.TOPIC if topic else Scope.GLOBAL
        digest = topic_digest(topic)
        at = self._core.now()
        event = self._bind.event(
            identity,
            Action.RESUBSCRIBE,
            source,
            at,
            scope=scope,
            topic=topic,
            reason=why,
            evidence=evidence,
            requested_at=requested_at,
        )

        def lift(session: Session) -> bool:
            # An audit event records a change: when nothing would be lifted, none is written.
            opted_out = topic is not None and session.topic_choice(identity.hash, digest) is False
            if not opted_out and not session.liftable(identity.hash, scope, digest):
                return False
            self._bind.prepare(session, identity, topic)
            if not session.append_event(event):
                return False
            changed = session.lift(identity.hash, scope, digest)
            if opted_out:
                changed = session.set_topic(identity.hash, digest, True, at) or changed
            return changed

        return self._bind.run(lift)

    def set_topic(
        self,
        recipient: Recipient,
        topic: str,
        subscribed: bool,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """Opt in to or out of one topic; opting in also lifts that topic's suppression."""
        if not isinstance(subscribed, bool):  # "no" and "0" are truthy or ambiguous
            raise InvalidInput(
                f"Subscribed {subscribed!r} is not usable; pass True (opt in) or False (opt out).",
                value=subscribed,
                reason="not a bool",
            )
        identity = self._bind.subject(recipient, channel)
        name = check_topic(topic)
        if name is None:
            raise InvalidInput("set_topic needs a topic name; pass one such as 'weekly-news'.")
        digest = topic_digest(name)
        action = Action.OPT_IN if subscribed else Action.OPT_OUT
        at = self._core.now()
        event = self._bind.event(
            identity,
            action,
            source,
            at,
            scope=Scope.TOPIC,
            topic=name,
            evidence=evidence,
            requested_at=requested_at,
        )

        def choose(session: Session) -> bool:
            changed = session.set_topic(identity.hash, digest, subscribed, at)
            if subscribed:
                changed = session.lift(identity.hash, Scope.TOPIC, digest) or changed
            return changed

        return self._bind.record(identity, name, event, choose)

    def admit_token(self, token: bytes, body: bytes, window: timedelta) -> bool:
        """Remember a signed request's one-use ``token`` with its ``body`` (both digests).

        True when the token is new or comes back with the same body (a redelivery),
        False when it comes with another one (a replayed signature). Tokens are kept for
        ``window``, then forgotten. No audit event: a token is no change of mind.
        """
        at = self._core.now()
        return self._bind.run(lambda session: session.admit_token(token, body, at, at - window))

    def record_feedback(
        self,
        recipient: Recipient,
        why: str,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
    ) -> bool:
        """Record the person's answer to "why?" after an unsubscribe: an audit event
        (action ``feedback``, ``detail`` the answer) that changes nothing else.

        The question comes only after the change and needs no answer; ``prefcenter
        report`` counts the answers. True when recorded (False for a replay).

        Raises:
            InvalidInput: ``why`` is not one of ``FEEDBACK_REASONS``.
        """
        if why not in FEEDBACK_REASONS:
            raise InvalidInput(
                f"Answer {str(why)[:30]!r} is not offered; use one of "
                f"{', '.join(FEEDBACK_REASONS)}.",
                value=why,
                reason="feedback",
            )
        identity = self._bind.subject(recipient, channel)
        at = self._core.now()
        event = self._bind.event(
            identity, Action.FEEDBACK, source, at, evidence=evidence, detail=why
        )
        return self._bind.record(identity, None, event, lambda session: True)

    def set_frequency(
        self,
        recipient: Recipient,
        days: int | None,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """At most one marketing contact per ``days`` days; None removes the ceiling."""
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS
        ):
            raise InvalidInput(
                f"Frequency {days!r} is not usable; give a whole number of days from 1 to "
                f"{MAX_DAYS}, or None for no ceiling.",
                value=days,
                reason="days",
            )
        identity = self._bind.subject(recipient, channel)
        at = self._core.now()
        event = self._bind.event(
            identity,
            Action.SET_FREQUENCY,
            source,
            at,
            evidence=evidence,
            detail="none" if days is None else str(days),
            reason=None if days is None else f"at most one per {days} days",
            requested_at=requested_at,
        )
        return self._bind.record(
            identity, None, event, lambda session: session.set_frequency(identity.hash, days, at)
        )

    def pause(
        self,
        recipient: Recipient,
        until: datetime,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """No marketing before ``until`` (an aware datetime)."""
        aware(until, "pause end")
        return self._pause(recipient, until, Action.PAUSE, channel, source, evidence, requested_at)

    def resume(
        self,
        recipient: Recipient,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """End a pause now."""
        return self._pause(recipient, None, Action.RESUME, channel, source, evidence, requested_at)

    def _pause(
        self,
        recipient: Recipient,
        until: datetime | None,
        action: Action,
        channel: Channel | str,
        source: Source,
        evidence: str | None,
        requested_at: datetime | None,
    ) -> bool:
        identity = self._bind.subject(recipient, channel)
        at = self._core.now()
        event = self._bind.event(
            identity,
            action,
            source,
            at,
            evidence=evidence,
            detail="" if until is None else until.isoformat(),
            requested_at=requested_at,
        )
        return self._bind.record(
            identity, None, event, lambda session: session.set_pause(identity.hash, until, at)
        )

    def link(
        self,
        first: Recipient,
        second: Recipient,
        *,
        first_channel: Channel | str = "email",
        second_channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """Record that two identities are one person; never weakens a suppression."""
        one = self._bind.subject(first, first_channel)
        two = self._bind.subject(second, second_channel)
        if one.hash == two.hash:  # two spellings of one identity: nothing to link
            return False
        at = self._core.now()

        def work(session: Session) -> bool:
            self._bind.prepare(session, one, None)
            self._bind.prepare(session, two, None)
            event = self._bind.event(
                one,
                Action.LINK,
                source,
                at,
                evidence=evidence,
                detail=two.hash_hex,
                requested_at=requested_at,
            )
            if not session.append_event(event):
                return False
            session.append_event(
                self._bind.event(
                    two,
                    Action.LINK,
                    source,
                    at,
                    evidence=evidence,
                    detail=one.hash_hex,
                    requested_at=requested_at,
                )
            )
            return session.link(one.hash, two.hash, at)

        return self._bind.run(work)

    def forget(
        self,
        recipient: Recipient,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """Erase a person's clear data (GDPR); the hashed opt-outs keep working.

        The person is this identity and every identity linked to it: their clear
        addresses, the free-text reasons on their suppressions and audit events, and
        queued mail that names any of them, in any spelling that folds to one of them.
        The event's ``detail`` lists the linked identities' hashes. True if anything
        was erased (or the identity is now marked, so it is never stored).
        """
        identity = self._bind.subject(recipient, channel)
        at = self._core.now()

        def work(session: Session) -> bool:
            person = session.person(identity.hash)
            event = self._bind.event(
                identity,
                Action.FORGET,
                source,
                at,
                evidence=evidence,
                requested_at=requested_at,
                detail=" ".join(member.hex() for member in person[1:]),
            )
            if not session.append_event(event):
                return False
            spellings = [identity.address] + ([recipient] if isinstance(recipient, str) else [])
            members = set(person)

            def names_person(address: str) -> bool:
                try:
                    return self._core.identity(address).hash in members
                except InvalidInput:
                    return False

            return session.forget(person, at, spellings, names_person)

        return self._bind.run(work)

    # -- the contact ledger and the exceptions queue, through the same binding ------
    def record_sent(
        self,
        recipient: Recipient,
        *,
        channel: Channel | str = "email",
        topic: str | None = None,
        kind: Kind | str = "marketing",
        at: datetime | None = None,
        sender: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Add a contact to the ledger (it counts toward ceilings and the frequency cap).

        Raises:
            InvalidInput: ``at`` has no time zone, or lies in the future (beyond
                ``CLOCK_SKEW``): a contact is recorded once it happened.
            HeaderInjection: ``sender`` or ``message_id`` holds a line break.
        """
        self._ledger.record_sent(
            recipient,
            channel=channel,
            topic=topic,
            kind=kind,
            at=at,
            sender=sender,
            message_id=message_id,
        )

    def record_soft_bounce(
        self,
        recipient: Recipient,
        *,
        channel: Channel | str = "email",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool:
        """Count a soft bounce; True when this one crossed the limit and made a hard stop."""
        return self._ledger.record_soft_bounce(
            recipient, channel=channel, source=source, evidence=evidence, requested_at=requested_at
        )

    def record_bounce(
        self,
        recipient: Recipient,
        *,
        reason: BounceReason | str,
        permanent: bool,
        evidence: str | None = None,
        proven: bool = True,
        channel: Channel | str = "email",
        source: Source | str = Source.BOUNCE,
        detail: str = "",
    ) -> BounceOutcome:
        """Apply the bounce policy to one bounce (:mod:`prefcenter.bounces.policy`).

        A proven permanent user/host unknown stops mail at once; a proven mailbox full,
        expiry, suspension... adds a score point (at most one a day, reset after
        ``BOUNCE_QUIET_PERIOD``) and stops mail at ``BOUNCE_SCORE_LIMIT``; a refusal about
        us (filtered, policy, too big) and any bounce with ``proven=False`` are evidence
        only. ESP webhook receivers call this for a provider's bounce.
        """
        return self._ledger.record_bounce(
            recipient,
            reason=reason,
            permanent=permanent,
            evidence=evidence,
            proven=proven,
            channel=channel,
            source=source,
            detail=detail,
        )

    def message_digest(self, message_id: str) -> bytes:
        """The keyed hash a Message-ID is stored as (angle brackets and spaces ignored)."""
        return self._ledger.message_digest(message_id)

    def record_message_id(self, recipient: Recipient, message_id: str) -> None:
        """Remember (as a keyed hash) that the message ``message_id`` went to ``recipient``."""
        self._ledger.record_message_id(recipient, message_id)

    def sent_to(self, message_id: str) -> bytes | None:
        """The identity hash a recorded Message-ID was sent to, or None (a read)."""
        return self._ledger.sent_to(message_id)

    def keep_for_audit(
        self,
        *,
        mailbox: str,
        why: str,
        raw: bytes,
        summary: str = "",
        evidence: str | None = None,
    ) -> ExceptionItem:
        """Keep machine-made mail nobody can act on, closed with status ``audit``."""
        return self._review.keep_for_audit(
            mailbox=mailbox, why=why, raw=raw, summary=summary, evidence=evidence
        )

    def open_exception(
        self,
        *,
        mailbox: str,
        why: str,
        raw: bytes,
        summary: str = "",
        evidence: str | None = None,
    ) -> ExceptionItem:
        """Queue inbound mail for a person; a redelivery returns the existing item."""
        return self._review.open_exception(
            mailbox=mailbox, why=why, raw=raw, summary=summary, evidence=evidence
        )

    def resolve_exception(
        self,
        item_id: int,
        *,
        suppress: str | None = None,
        dismiss: bool = False,
        reason: str,
        source: Source,
    ) -> ExceptionItem:
        """Close a queued item: suppress an address it named, or dismiss it.

        Raises:
            ReasonRequired: ``reason`` is blank.
            NotFound: no such item.
            InvalidInput: the item was already closed with another decision; nothing is
                changed. The same decision again (a retry) returns the closed item.
        """
        return self._review.resolve_exception(
            item_id, suppress=suppress, dismiss=dismiss, reason=reason, source=source
        )


__all__ = ["Changes", "Recipient", "SuppressRequest"]
