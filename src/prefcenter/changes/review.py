"""The exceptions queue: inbound mail the automation could not decide, for a person.

Nothing inbound is dropped: the SMTP sidecar queues what it cannot act on, and ops
resolve each item through the CLI. Opening is idempotent on the evidence (the
Message-ID), so a redelivered message returns the item already queued.

Anyone can write to ``postmaster@``, so the queue is bounded (issue 20):

- an item keeps a message's head (up to :data:`KEEP_BYTES`) and the first
  :data:`KEEP_BYTES` of its body; a longer message is cut there, with an
  ``X-Prefcenter-Truncated`` line on top and its full size in the summary;
- all open items together hold at most ``EXCEPTION_BUDGET`` bytes: an item past it is
  refused with :class:`~prefcenter.errors.QueueFull` (its transaction rolls back, the
  SMTP sidecar answers 452 and logs an error, the sender retries later), never dropped;
- ``purge`` erases the mail of items left open past ``EXCEPTION_OPEN_RETENTION``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from prefcenter.changes.binding import Binding, require_reason
from prefcenter.core import Recipient
from prefcenter.errors import InvalidInput, QueueFull
from prefcenter.inputs import choice
from prefcenter.model import Action, ExceptionItem, Source, show_time
from prefcenter.store.exceptions import no_such_exception
from prefcenter.store.protocol import NewEvent, Session

__all__ = ["KEEP_BYTES", "ReviewQueue", "Suppressor", "kept_mail"]

#: Bytes of head, and of body, an exception item keeps of a message.
KEEP_BYTES = 64 * 1024


def kept_mail(raw: bytes, summary: str) -> tuple[bytes, str]:
    """What an item keeps of ``raw``: all of it, or its head and the start of its body
    with a note on top; and the summary, with the full size when it was cut."""
    if len(raw) <= 2 * KEEP_BYTES:
        return raw, summary
    end = raw.find(b"\r\n\r\n")
    split = end + 4 if end != -1 else raw.find(b"\n\n") + 2
    if split <= 1 or split > KEEP_BYTES:  # no blank line within the head limit
        split = min(len(raw), KEEP_BYTES)
    head, body = raw[:split], raw[split : split + KEEP_BYTES]
    note = (
        f"X-Prefcenter-Truncated: kept the head and the first {len(body)} bytes of the "
        f"body of a {len(raw)}-byte message\r\n"
    ).encode()
    return note + head + body, f"{summary} [cut: {len(raw)} bytes received]".strip()


class Suppressor(Protocol):
    """What resolving an item with a suppression needs: ``Changes.suppress``."""

    def suppress(
        self,
        recipient: Recipient,
        *,
        reason: str = "",
        source: Source,
        evidence: str | None = None,
        requested_at: datetime | None = None,
    ) -> bool: ...


class ReviewQueue:
    """Opening and resolving exception items, each with its audit event.

    Args:
        binding: the core and maybe the open transaction.
        within: the change writer bound to a session, for a resolution that suppresses.
    """

    def __init__(self, binding: Binding, within: Callable[[Session], Suppressor]) -> None:
        self._bind = binding
        self._within = within

    def open_exception(
        self,
        *,
        mailbox: str,
        why: str,
        raw: bytes,
        summary: str = "",
        evidence: str | None = None,
    ) -> ExceptionItem:
        """Queue inbound mail for a person; a redelivery returns the existing item.

        A long message is kept cut (:func:`kept_mail`).

        Raises:
            QueueFull: open items would hold more than ``EXCEPTION_BUDGET`` bytes; nothing
                of this item is stored (the transaction rolls back).
        """
        at = self._bind.core.now()
        settings = self._bind.core.settings
        due = at + settings.exception_due
        kept, summary = kept_mail(bytes(raw), summary)

        def work(session: Session) -> ExceptionItem:
            item, new = session.open_exception(
                received_at=at,
                due_at=due,
                mailbox=mailbox,
                why=why,
                raw=kept,
                summary=summary,
                evidence=evidence,
            )
            if new:
                held = session.open_exception_bytes()
                if held > settings.exception_budget:
                    raise QueueFull(
                        f"Open exception items would hold {held} bytes, over EXCEPTION_BUDGET "
                        f"({settings.exception_budget}); decide or purge open items "
                        "(prefcenter exceptions), or raise the budget.",
                        held=held,
                        budget=settings.exception_budget,
                    )
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

        return self._bind.run(work)

    def keep_for_audit(
        self,
        *,
        mailbox: str,
        why: str,
        raw: bytes,
        summary: str = "",
        evidence: str | None = None,
    ) -> ExceptionItem:
        """Keep machine-made mail nobody can act on, closed, for audit (issue 21).

        It is not an item for a person: it is stored already closed with status
        ``audit``, counted (``machine_mail_kept``), and its mail is erased after
        ``MACHINE_MAIL_RETENTION``. A redelivery returns the existing record. Long mail
        is kept cut, as for an item (:func:`kept_mail`): anyone can send bounces.
        """
        at = self._bind.core.now()
        raw, summary = kept_mail(bytes(raw), summary)

        def work(session: Session) -> ExceptionItem:
            item, new = session.open_exception(
                received_at=at,
                due_at=at,
                mailbox=mailbox,
                why=why,
                raw=bytes(raw),
                summary=summary,
                evidence=evidence,
            )
            if not new or item.status != "open":
                return item
            return session.close_exception(item.id, status="audit", resolution=why, at=at)

        return self._bind.run(work)

    def resolve_exception(
        self,
        item_id: int,
        *,
        suppress: str | None = None,
        dismiss: bool = False,
        reason: str,
        source: Source,
    ) -> ExceptionItem:
        """Close a queued item: suppress an address it named, or dismiss it."""
        why = require_reason(reason, f"Resolving exception {item_id}")
        if suppress is not None and dismiss:
            raise InvalidInput(
                f"Exception {item_id}: choose suppress or dismiss, not both.", value=item_id
            )
        at = self._bind.core.now()
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
                    f"Exception {item_id} was already {item.status} at "
                    f"{show_time(item.resolved_at)}; nothing changed (see `exceptions show "
                    f"{item_id}`).",
                    value=item_id,
                    reason=f"already {item.status}",
                )
            if suppress is not None:
                # Requested when the mail arrived: the report's time-to-honour then
                # counts the time it waited in the queue.
                self._within(session).suppress(
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

        return self._bind.run(work)
