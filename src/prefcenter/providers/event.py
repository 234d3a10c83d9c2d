"""The one event model every provider's webhook is read into.

A provider reports that a message bounced, that a person complained, unsubscribed or
texted STOP. Whatever the provider, that becomes one :class:`HookEvent`: what happened
(``kind``), to whom (``recipient`` and ``channel``), about what (``topic``), why
(``reason``), and the provider's own id for the event (``evidence``), which makes a
replayed delivery a no-op in the store. Provider fields worth keeping (bounce type and
status, the ESP's group id) are kept in ``fields`` and written into the audit event's
reason; addresses inside provider text are masked first (:func:`mask_addresses`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prefcenter.errors import WebhookMalformed
from prefcenter.model import Channel


class EventKind(StrEnum):
    """What a provider event asks of the store."""

    #: Stop marketing (all of it, or one topic): an unsubscribe or a STOP keyword.
    SUPPRESS = "suppress"
    #: Lift an opt-out the person themselves made (START, a group resubscribe).
    RESUBSCRIBE = "resubscribe"
    #: A permanent failure: nothing more to this address.
    HARD_BOUNCE = "hard-bounce"
    #: A temporary failure: counted; enough of them make a hard stop.
    SOFT_BOUNCE = "soft-bounce"
    #: A spam complaint: nothing more to this address.
    COMPLAINT = "complaint"
    #: A person must read it (free text that may ask to stop).
    EXCEPTION = "exception"
    #: Nothing to do (a delivery, a HELP keyword, a bounce that is not the person's).
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class HookEvent:
    """One event from a provider, in prefcenter's words.

    Attributes:
        provider: ``ses``, ``sendgrid``, ``postmark``, ``mailgun``, ``twilio`` or ``generic``.
        kind: what the event asks of the store.
        recipient: the address or number the event is about (never logged).
        channel: the channel of ``recipient``.
        topic: the topic it concerns; None for all marketing.
        reason: one short human phrase ("hard bounce 5.1.1", "texted STOP").
        evidence: ``provider:event-id``; the same event redelivered has the same evidence.
        fields: provider fields kept with the event, as (name, value) pairs.
        message: for an ``EXCEPTION``, what the person deciding it must read.
    """

    provider: str
    kind: EventKind
    recipient: str
    channel: Channel
    evidence: str
    reason: str = ""
    topic: str | None = None
    fields: tuple[tuple[str, str], ...] = field(default=())
    message: str = ""

    @property
    def audit_reason(self) -> str:
        """The reason with the provider fields, as written into the audit event (≤ 500 chars).

        A field whose value is the reason itself (Postmark's ``Type``, which is also its
        reason: "postmark: HardBounce") is not written twice: every fact stays, and every
        such row of ``events`` and ``suppressions`` is shorter.
        """
        reason = self.reason
        extra = " ".join(
            f"{name}={value}" for name, value in self.fields if value and value != reason
        )
        text = f"{self.provider}: {reason}" + (f" ({extra})" if extra else "")
        return mask_addresses(text)[:500]


_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_NUMBER = re.compile(r"\+\d{7,15}")


def mask_addresses(text: str) -> str:
    """``text`` with every email address and E.164 number replaced by ``<address>``.

    Diagnostic codes quote the recipient (``550 5.1.1 <bob@example.com>: unknown``);
    the audit log keeps reasons for years, and an erasure request must not have to
    find addresses inside them.
    """
    if "@" in text:
        text = _ADDRESS.sub("<address>", text)
    if "+" in text:
        text = _NUMBER.sub("<address>", text)
    return text


def load_json(body: bytes, provider: str) -> Any:
    """The body as JSON (strict UTF-8).

    Raises:
        WebhookMalformed: not UTF-8 JSON.
    """
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise WebhookMalformed(
            f"The {provider} webhook body is not UTF-8 JSON; nothing was changed.",
            provider=provider,
        ) from None


def text(data: Mapping[str, Any], name: str, provider: str, *, required: bool = True) -> str:
    """Field ``name`` of ``data`` as text ("" when absent and not ``required``).

    Raises:
        WebhookMalformed: the field is missing (and required) or not a string or number.
    """
    value = data.get(name)
    if type(value) is str:  # the usual case, first: this runs for every field read
        return value
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    if value is None and not required:
        return ""
    raise WebhookMalformed(
        f"The {provider} event field {name!r} is missing or not text; nothing was changed.",
        provider=provider,
    )


def short(value: object, limit: int = 120) -> str:
    """A provider value as one short line of text (no line breaks, at most ``limit``)."""
    if (
        type(value) is str
        and value.isprintable()  # no whitespace but " " (Unicode's others are not printable)
        and "  " not in value
        and value[:1] != " "
        and value[-1:] != " "
    ):
        return value[:limit]  # already one line with single spaces: the usual case
    text = " ".join(str(value).split())
    return text[:limit]


__all__ = ["EventKind", "HookEvent", "load_json", "mask_addresses", "short", "text"]
