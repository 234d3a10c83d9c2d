"""The contact ledger: what senders sent, and soft bounces that add up to a hard stop.

``record_sent`` feeds the frequency ceiling and the store-wide cap (contacts per identity
per channel per rolling window, from every sender). ``record_soft_bounce`` counts
temporary failures; the one that reaches ``SOFT_BOUNCE_LIMIT`` within
``SOFT_BOUNCE_WINDOW`` turns into a hard suppression.
"""

from __future__ import annotations

from datetime import datetime

from prefcenter.changes.binding import Binding
from prefcenter.core import Recipient
from prefcenter.headers import refuse_breaks
from prefcenter.inputs import choice, not_later
from prefcenter.model import Action, Channel, Contact, Kind, Scope, Source
from prefcenter.store.protocol import Session
from prefcenter.topics import NO_TOPIC, check_topic, topic_digest

__all__ = ["Ledger"]


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
