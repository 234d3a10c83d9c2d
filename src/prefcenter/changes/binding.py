"""How every change is written: bound to a core and maybe to an open transaction.

A change appends its audit event and applies its state change in one transaction: its
own durable one, or the caller's (``PreferenceCenter.transaction()``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from prefcenter.core import Core, Recipient
from prefcenter.errors import ReasonRequired
from prefcenter.inputs import choice, requested
from prefcenter.model import Action, Channel, Identity, Scope, Source
from prefcenter.store.protocol import NewEvent, Session
from prefcenter.topics import topic_digest

__all__ = ["Binding", "require_reason"]

T = TypeVar("T")


def require_reason(reason: str, what: str) -> str:
    """The stripped reason, or ReasonRequired naming the action."""
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired(
            f"{what} needs a reason (got {reason!r}); say why, e.g. 'customer asked by phone'.",
            value=reason,
            reason="blank",
        )
    return reason.strip()


class Binding:
    """A core and, inside ``PreferenceCenter.transaction()``, the open session."""

    def __init__(self, core: Core, session: Session | None) -> None:
        self.core = core
        self.session = session

    def run(self, work: Callable[[Session], T]) -> T:
        """``work`` in the open session, or in a durable transaction of its own."""
        if self.session is not None:
            return work(self.session)
        return self.core.store.run(work)

    def subject(self, recipient: Recipient, channel: Channel | str) -> Identity:
        """The identity a change is about."""
        return self.core.identity(recipient, channel)

    def prepare(self, session: Session, identity: Identity, topic: str | None) -> None:
        """Remember the clear address and register the topic, in the change's session."""
        if identity.address:
            session.remember(identity.hash, identity.address)
        # A topic this center registered in a committed transaction needs no statement.
        if topic is not None and topic not in self.core.topics:
            session.register_topic(topic_digest(topic), topic)

    def event(
        self,
        identity: Identity,
        action: Action,
        source: Source,
        at: datetime,
        *,
        scope: Scope | None = None,
        topic: str | None = None,
        reason: str | None = None,
        evidence: str | None = None,
        requested_at: datetime | None = None,
        detail: str = "",
    ) -> NewEvent:
        """The audit event of a change, with the source checked."""
        return NewEvent(
            at, identity.hash, action, choice(Source, source, "source"), identity.channel,
            scope, topic, reason, evidence, requested(requested_at, at), detail,
        )  # fmt: skip

    def record(
        self,
        identity: Identity,
        topic: str | None,
        event: NewEvent,
        then: Callable[[Session], bool],
    ) -> bool:
        """Append ``event`` and, unless the store already had it (a replay), apply ``then``.

        Both happen in one transaction: the audit event and the state change commit
        together or not at all.
        """

        def work(session: Session) -> bool:
            self.prepare(session, identity, topic)
            if not session.append_event(event):
                return False
            return then(session)

        return self.run(work)
