"""Mailgun's webhooks (``POST /hooks/mailgun``): ``failed``, ``complained``, ``unsubscribed``.

Mailgun signs each request with HMAC-SHA256 of ``timestamp + token`` under the HTTP
webhook signing key (``MAILGUN_WEBHOOK_SIGNING_KEY``) and puts ``timestamp``, ``token``
and ``signature`` in the body's ``signature`` object. The signature does not cover the
event, so a captured request could be replayed with another body: timestamps older than
:data:`MAX_AGE` are refused, and a token is accepted for one body only. The tokens seen
are kept in the store (``Changes.admit_token``, for :data:`TOKEN_WINDOW`), so every
sidecar process and replica on it refuses a token any of them has seen. Mapping
(Mailgun's "Webhooks" and "Events" pages):

- ``failed`` with ``severity`` ``permanent`` → hard bounce, ``temporary`` → soft bounce
  (a ``reason`` of ``suppress-bounce``, ``suppress-complaint`` or
  ``suppress-unsubscribe`` means Mailgun itself stopped it: recorded as such);
- ``complained`` → complaint; ``unsubscribed`` → all marketing; others ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefcenter.errors import WebhookMalformed, WebhookUnauthorized
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, load_json, short, text

PROVIDER = "mailgun"
#: Oldest (and furthest in the future) a signed timestamp may be, in seconds.
MAX_AGE = 15 * 60
#: How long a token is remembered: a timestamp up to MAX_AGE ahead of the clock stays
#: acceptable until MAX_AGE after it, so a token must outlive its first sight by both.
TOKEN_WINDOW = 2 * MAX_AGE
_SUPPRESSED = {
    "suppress-bounce": EventKind.HARD_BOUNCE,
    "suppress-complaint": EventKind.COMPLAINT,
    "suppress-unsubscribe": EventKind.SUPPRESS,
}


@dataclass(frozen=True, slots=True)
class Signed:
    """A Mailgun request whose signature and timestamp were verified.

    Attributes:
        event: the ``event-data`` object.
        token: the one-use key the store must admit (:func:`token_key`), and
        body: the digest of the body it may come with (see :meth:`Changes.admit_token`).
    """

    event: Mapping[str, Any]
    token: bytes
    body: bytes


def token_key(token: str) -> bytes:
    """The key a Mailgun token is remembered by in the store (a digest, never the token)."""
    return hashlib.sha256(f"{PROVIDER}:{token}".encode()).digest()


def verify(body: bytes, key: str, now: float) -> Signed:
    """Check the body's signature and its age; the token is for the store to admit.

    Raises:
        WebhookMalformed: no ``signature`` or ``event-data`` object.
        WebhookUnauthorized: a wrong signature or a stale timestamp.
    """
    data = load_json(body, PROVIDER)
    signature = data.get("signature") if isinstance(data, dict) else None
    event = data.get("event-data") if isinstance(data, dict) else None
    if not isinstance(signature, dict) or not isinstance(event, dict):
        raise WebhookMalformed(
            "The Mailgun body has no 'signature' and 'event-data' objects.", provider=PROVIDER
        )
    timestamp = text(signature, "timestamp", PROVIDER)
    token = text(signature, "token", PROVIDER)
    given = text(signature, "signature", PROVIDER)
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise WebhookUnauthorized(
            "The Mailgun signature does not match MAILGUN_WEBHOOK_SIGNING_KEY; "
            "nothing was changed.",
            provider=PROVIDER,
        )
    try:
        age = now - float(timestamp)
    except ValueError:
        age = float("inf")
    if not abs(age) <= MAX_AGE:
        raise WebhookUnauthorized(
            f"The Mailgun timestamp is {short(timestamp, 20)!r}, more than {MAX_AGE} s from "
            "now; a stale request is refused (check this host's clock).",
            provider=PROVIDER,
        )
    return Signed(event, token_key(token), hashlib.sha256(body).digest())


def parse(event: Mapping[str, Any]) -> list[HookEvent]:
    """The event of a verified ``event-data`` object (none for events that change nothing).

    Raises:
        WebhookMalformed: the event lacks its id or recipient.
    """
    name = text(event, "event", PROVIDER)
    severity = text(event, "severity", PROVIDER, required=False)
    why = text(event, "reason", PROVIDER, required=False)
    found = event.get("delivery-status")
    status: Mapping[str, Any] = found if isinstance(found, dict) else {}
    if name == "failed":
        if why in _SUPPRESSED:
            kind = _SUPPRESSED[why]
        elif severity == "permanent":
            kind = EventKind.HARD_BOUNCE
        else:
            kind = EventKind.SOFT_BOUNCE
        reason = f"{severity or 'unknown'} failure {short(status.get('code', ''), 10)}".strip()
    elif name == "complained":
        kind, reason = EventKind.COMPLAINT, "complaint"
    elif name == "unsubscribed":
        kind, reason = EventKind.SUPPRESS, "unsubscribed in Mailgun"
    else:
        return []
    return [
        HookEvent(
            PROVIDER,
            kind,
            text(event, "recipient", PROVIDER),
            Channel.EMAIL,
            f"{PROVIDER}:{text(event, 'id', PROVIDER)}",
            reason=reason,
            fields=(
                ("event", short(name, 20)),
                ("severity", short(severity, 20)),
                ("reason", short(why, 40)),
                ("description", short(status.get("description") or status.get("message", ""))),
            ),
        )
    ]


__all__ = ["MAX_AGE", "PROVIDER", "TOKEN_WINDOW", "Signed", "parse", "token_key", "verify"]
