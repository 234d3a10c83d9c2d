"""Mailgun's webhooks (``POST /hooks/mailgun``): ``failed``, ``complained``, ``unsubscribed``.

Mailgun signs each request with HMAC-SHA256 of ``timestamp + token`` under the HTTP
webhook signing key (``MAILGUN_WEBHOOK_SIGNING_KEY``) and puts ``timestamp``, ``token``
and ``signature`` in the body's ``signature`` object. The signature does not cover the
event, so a captured request could be replayed with another body: timestamps older than
:data:`MAX_AGE` are refused, and a token is accepted for one body only
(:class:`Tokens`). Mapping (Mailgun's "Webhooks" and "Events" pages):

- ``failed`` with ``severity`` ``permanent`` → hard bounce, ``temporary`` → soft bounce
  (a ``reason`` of ``suppress-bounce``, ``suppress-complaint`` or
  ``suppress-unsubscribe`` means Mailgun itself stopped it: recorded as such);
- ``complained`` → complaint; ``unsubscribed`` → all marketing; others ignored.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import threading
from collections.abc import Mapping
from typing import Any

from prefcenter.errors import WebhookMalformed, WebhookUnauthorized
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, load_json, short, text

PROVIDER = "mailgun"
#: Oldest (and furthest in the future) a signed timestamp may be, in seconds.
MAX_AGE = 15 * 60
_SUPPRESSED = {
    "suppress-bounce": EventKind.HARD_BOUNCE,
    "suppress-complaint": EventKind.COMPLAINT,
    "suppress-unsubscribe": EventKind.SUPPRESS,
}


class Tokens:
    """Signed tokens seen within :data:`MAX_AGE`: a token may come back only with its body.

    A redelivery of the same request (the same token, the same body) is allowed: it
    changes nothing in the store. The same token with another body is a forgery.
    Kept in memory per sidecar process; bounded by ``limit`` (oldest forgotten first).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def admit(self, token: str, body: bytes, now: float) -> None:
        """Accept ``token`` for ``body``; refuse it for any other body.

        Raises:
            WebhookUnauthorized: the token was seen with another body.
        """
        digest = hashlib.sha256(body).digest()
        with self._lock:
            while self._seen:
                oldest = next(iter(self._seen.values()))
                if now - oldest[0] <= MAX_AGE and len(self._seen) < self._limit:
                    break
                self._seen.popitem(last=False)
            seen = self._seen.get(token)
            if seen is not None and not hmac.compare_digest(seen[1], digest):
                raise WebhookUnauthorized(
                    "This Mailgun token was already used with another body; nothing was changed.",
                    provider=PROVIDER,
                )
            if seen is None:
                self._seen[token] = (now, digest)


def verify(body: bytes, key: str, now: float, tokens: Tokens) -> Mapping[str, Any]:
    """Check the body's signature, its age and its token; return the ``event-data``.

    Raises:
        WebhookMalformed: no ``signature`` or ``event-data`` object.
        WebhookUnauthorized: a wrong signature, a stale timestamp or a reused token.
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
    tokens.admit(token, body, now)
    return event


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


__all__ = ["MAX_AGE", "PROVIDER", "Tokens", "parse", "verify"]
