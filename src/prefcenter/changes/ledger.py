"""The contact ledger: what senders sent, and soft bounces that add up to a hard stop.

``record_sent`` feeds the frequency ceiling and the store-wide cap (contacts per identity
per channel per rolling window, from every sender). ``record_soft_bounce`` counts
temporary failures; the one that reaches ``SOFT_BOUNCE_LIMIT`` within
``SOFT_BOUNCE_WINDOW`` turns into a hard suppression.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from prefcenter.bounces.policy import BounceAction, BounceReason, Score, bounce_action, bounce_score
from prefcenter.changes.binding import Binding
from prefcenter.core import Recipient
from prefcenter.headers import refuse_breaks
from prefcenter.inputs import choice, not_later
from prefcenter.model import Action, Channel, Contact, Kind, Scope, Source
from prefcenter.store.protocol import Session
from prefcenter.topics import NO_TOPIC, check_topic, topic_digest

__all__ = ["BounceOutcome", "Ledger", "hard_bounce_reason"]


def hard_bounce_reason(reason: BounceReason, detail: str = "") -> str:
    """The reason a hard suppression made by one bounce is written with (≤ 500 chars).

    ``record_bounce`` and the webhooks' batched hard bounces (``suppress_many`` with
    ``hard=True``) write the same words, so the audit log reads alike either way.
    """
    return f"bounce: {reason.value}{f' ({detail})' if detail else ''}"[:500]


class Ledger:
    """``record_sent`` and ``record_soft_bounce``: what was sent, and what bounced."""

    def __init__(self, binding: Binding) -> None:
        self._bind = binding

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
        """Add a contact to the ledger (it counts toward ceilings and the frequency cap)."""
        identity = self._bind.subject(recipient, channel)
        topic = check_topic(topic)
        # Both are printed in reports and history: no line breaks to forge lines with.
        for what, text in (("Sender", sender), ("Message-ID", message_id)):
            if text is not None:
                refuse_breaks(what, text)
        now = self._bind.core.now()
        moment = now if at is None else not_later(at, now, "send time")
        # The proof table keeps only a keyed hash of the Message-ID: it proves that a
        # returned message is ours (proof before action). The ledger row keeps the id as
        # given, for the violations report, and goes with the row at CONTACT_RETENTION.
        digest = self.message_digest(message_id) if message_id else None
        contact = Contact(
            identity.hash_hex,
            identity.channel,
            topic,
            choice(Kind, kind, "kind"),
            moment,
            sender,
            message_id,
        )

        def work(session: Session) -> None:
            self._bind.prepare(session, identity, topic)
            session.record_contact(contact, identity.hash, topic_digest(topic))
            if digest is not None:
                session.record_sent_message(digest, identity.hash, moment)

        self._bind.run(work)

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
        identity = self._bind.subject(recipient, channel)
        settings = self._bind.core.settings
        at = self._bind.core.now()

        event = self._bind.event(
            identity, Action.SOFT_BOUNCE, source, at, evidence=evidence, requested_at=requested_at
        )

        def count_and_maybe_stop(session: Session) -> bool:
            count = session.count_events(
                identity.hash, Action.SOFT_BOUNCE, at - settings.soft_bounce_window
            )
            if count < settings.soft_bounce_limit:
                return False
            reason = f"{count} soft bounces within {settings.soft_bounce_window.days} days"
            hard = self._bind.event(
                identity,
                Action.SUPPRESS,
                source,
                at,
                scope=Scope.HARD,
                reason=reason,
                evidence=evidence,
            )
            session.append_event(hard)
            return session.suppress(
                identity.hash,
                identity.channel,
                Scope.HARD,
                NO_TOPIC,
                all_channels=False,
                reason=reason,
                source=choice(Source, source, "source"),
                at=at,
            )

        return self._bind.record(identity, None, event, count_and_maybe_stop)

    def message_digest(self, message_id: str) -> bytes:
        """The keyed hash a Message-ID is stored as (angle brackets and spaces ignored)."""
        return self._bind.core.identities.hash_key(
            "message-id:" + message_id.strip().strip("<>").strip()
        )

    def record_message_id(self, recipient: Recipient, message_id: str) -> None:
        """Remember (as a keyed hash) that the message ``message_id`` went to ``recipient``."""
        identity = self._bind.subject(recipient, "email")
        digest = self.message_digest(message_id)
        at = self._bind.core.now()

        def work(session: Session) -> None:
            self._bind.prepare(session, identity, None)
            session.record_sent_message(digest, identity.hash, at)

        self._bind.run(work)

    def sent_to(self, message_id: str) -> bytes | None:
        """The identity hash a recorded Message-ID was sent to, or None (a read)."""
        digest = self.message_digest(message_id)
        return self._bind.run(lambda session: session.sent_message(digest))

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
        """Apply the bounce policy to one bounce for one person (:mod:`prefcenter.bounces.policy`).

        Args:
            recipient: the person the bounce is about.
            reason: why it failed, a :class:`~prefcenter.bounces.policy.BounceReason` or its
                string (``user-unknown``, ``mailbox-full``, ``policy``...).
            permanent: True for a permanent failure (5.x.x, a provider's "Permanent").
            evidence: the bounce's id (Message-ID, a provider's event id): a replay with
                the same evidence changes nothing twice.
            proven: True only when the bounce proves it concerns a message we sent (our
                VERP token, our token or a recorded Message-ID in the returned headers,
                or a provider's authenticated webhook naming its own message).
                Unproven bounces are evidence only: recorded, never a suppression.
            channel: the channel of ``recipient``.
            source: the audit source, ``bounce`` unless a webhook says otherwise.
            detail: a short note for the audit trail (the status code, the format).

        Returns:
            What happened: the action taken, the score after this bounce, whether a hard
            suppression was added.
        """
        identity = self._bind.subject(recipient, channel)
        why = choice(BounceReason, reason, "reason")
        origin = choice(Source, source, "source")
        settings = self._bind.core.settings
        at = self._bind.core.now()
        action = bounce_action(why, permanent=permanent, proven=proven)
        label = f"{why.value}{'' if permanent else ' (temporary)'}"
        if not proven:
            label += ", unproven"

        def work(session: Session) -> BounceOutcome:
            self._bind.prepare(session, identity, None)
            score = Score(0, False)
            if action is BounceAction.SCORE:
                earlier = session.event_times(
                    identity.hash,
                    Action.SOFT_BOUNCE,
                    at - settings.bounce_quiet_period * (settings.bounce_score_limit + 1),
                )
                score = bounce_score(earlier, at, settings.bounce_quiet_period)
            if action is BounceAction.HARD:
                # One event: the hard suppression itself, its reason the bounce's.
                hard_reason = hard_bounce_reason(why, detail)
                hard = self._bind.event(
                    identity, Action.SUPPRESS, origin, at,
                    scope=Scope.HARD, reason=hard_reason, evidence=evidence,
                )  # fmt: skip
                if not session.append_event(hard):
                    return BounceOutcome(action, 0, False, replay=True)
            else:
                note = f"{label}; score {score.value}/{settings.bounce_score_limit}"
                note = f"{note}; {detail}" if detail else note
                kind = Action.SOFT_BOUNCE if action is BounceAction.SCORE else Action.BOUNCE
                event = self._bind.event(
                    identity, kind, origin, at,
                    reason=note[:500], evidence=evidence, detail=why.value,
                )  # fmt: skip
                if not session.append_event(event):
                    return BounceOutcome(action, score.value, False, replay=True)
                if action is BounceAction.EVIDENCE or score.value < settings.bounce_score_limit:
                    return BounceOutcome(action, score.value, False)
                hard_reason = f"bounce score {score.value} ({why.value})"
                session.append_event(
                    self._bind.event(
                        identity,
                        Action.SUPPRESS,
                        origin,
                        at,
                        scope=Scope.HARD,
                        reason=hard_reason,
                        evidence=evidence,
                    )
                )
            changed = session.suppress(
                identity.hash,
                identity.channel,
                Scope.HARD,
                NO_TOPIC,
                all_channels=False,
                reason=hard_reason,
                source=origin,
                at=at,
            )
            return BounceOutcome(BounceAction.HARD, score.value, changed)

        return self._bind.run(work)


@dataclass(frozen=True)
class BounceOutcome:
    """What :meth:`Ledger.record_bounce` did.

    Attributes:
        action: ``hard`` (a hard suppression now), ``score`` (a point counted) or
            ``evidence`` (recorded only).
        score: the person's bounce score after this bounce (0 when not scored).
        suppressed: True when a hard suppression was added by this bounce.
        replay: True when the same evidence was already recorded (nothing changed).
    """

    action: BounceAction
    score: int
    suppressed: bool
    replay: bool = False
