"""The exceptions queue's changes: inbound mail the automation could not decide.

Nothing inbound is dropped: the SMTP sidecar queues what it cannot act on, and ops
resolve each item through the CLI. Opening is idempotent on the evidence (the
Message-ID), so a redelivered message returns the item already queued.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from prefcenter.errors import InvalidInput, ReasonRequired
from prefcenter.inputs import choice, requested
from prefcenter.model import Action, Channel, ExceptionItem, Identity, Scope, Source, stamp
from prefcenter.store.exceptions import no_such_exception
from prefcenter.store.protocol import NewEvent, Session
from prefcenter.tokens import topic_digest

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

T = TypeVar("T")
Recipient = str | Identity


def require_reason(reason: str, what: str) -> str:
    """The stripped reason, or ReasonRequired naming the action."""
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired(
            f"{what} needs a reason (got {reason!r}); say why, e.g. 'customer asked by phone'.",
            value=reason,
            reason="blank",
        )
    return reason.strip()


class QueueChanges:
    """Base of :class:`~prefcenter.changes.Changes`: binding, retries, the event shape, and
    the exceptions queue."""

    def __init__(self, center: PreferenceCenter, session: Session | None) -> None:
        self._center = center
        self._session = session

    def _run(self, work: Callable[[Session], T]) -> T:
        if self._session is not None:
            return work(self._session)
        return self._center.store.run(work)

    def _subject(self, recipient: Recipient, channel: Channel | str) -> Identity:
        return self._center.identity(recipient, channel)

    def _prepare(self, session: Session, identity: Identity, topic: str | None) -> None:
        if identity.address:
            session.remember(identity.hash, identity.address)
        # A topic this center registered in a committed transaction needs no statement.
        if topic is not None and topic not in self._center._topics:
            session.register_topic(topic_digest(topic), topic)

    def _event(
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
        return NewEvent(
            at, identity.hash, action, choice(Source, source, "source"), identity.channel,
            scope, topic, reason, evidence, requested(requested_at, at), detail,
        )  # fmt: skip

    def _record(
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
            self._prepare(session, identity, topic)
            if not session.append_event(event):
                return False
            return then(session)

        return self._run(work)

    def _bound(self, session: Session) -> Any:
        """The same changes, inside ``session``'s transaction."""
        from prefcenter.changes import Changes  # the subclass; imported late to avoid a cycle

        return Changes(self._center, session)

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
        at = self._center.now()
        due = at + self._center.settings.exception_due

        def work(session: Session) -> ExceptionItem:
            item, new = session.open_exception(
                received_at=at,
                due_at=due,
                mailbox=mailbox,
                why=why,
                raw=bytes(raw),
                summary=summary,
                evidence=evidence,
            )
            if new:
                session.append_event(
                    NewEvent(
                        at,
                        b"",
                        Action.EXCEPTION_OPENED,
                        Source.LIBRARY,
                        reason=why,
                        evidence=f"exception:{item.id}",
                    )
                )
            return item

        return self._run(work)

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
        why = require_reason(reason, f"Resolving exception {item_id}")
        if suppress is not None and dismiss:
            raise InvalidInput(
                f"Exception {item_id}: choose suppress or dismiss, not both.", value=item_id
            )
        at = self._center.now()
        status = "dismissed" if dismiss else "resolved"

        def work(session: Session) -> ExceptionItem:
            item = session.exception(item_id)
            if item is None:
                raise no_such_exception(item_id)
            if item.status != "open":
                if (item.status, item.resolution) == (status, why):
                    return item  # a retry of the decision already made
                # Another decision would be dropped silently (a --suppress not made), so
                # refuse it. The resolution text is not shown: it may name an address.
                raise InvalidInput(
                    f"Exception {item_id} was already {item.status} at {stamp(item.resolved_at)}; "
                    f"nothing changed (see `exceptions show {item_id}`).",
                    value=item_id,
                    reason=f"already {item.status}",
                )
            if suppress is not None:
                # Requested when the mail arrived: the report's time-to-honour then
                # counts the time it waited in the queue.
                self._bound(session).suppress(
                    suppress,
                    reason=why,
                    source=source,
                    evidence=f"exception:{item_id}",
                    requested_at=item.received_at,
                )
            closed = session.close_exception(item_id, status=status, resolution=why, at=at)
            session.append_event(
                NewEvent(
                    at,
                    b"",
                    Action.EXCEPTION_RESOLVED,
                    choice(Source, source, "source"),
                    reason=why,
                    evidence=f"exception:{item_id}",
                    detail=status,
                )
            )
            return closed

        return self._run(work)


__all__ = ["QueueChanges", "require_reason"]
