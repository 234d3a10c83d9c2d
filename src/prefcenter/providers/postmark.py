"""Postmark's webhooks (``POST /hooks/postmark``): bounces, spam complaints, subscription changes.

Postmark does not sign its webhooks; it sends the basic credentials written into the
webhook URL (``https://USER:PASSWORD@host/hooks/postmark``), compared here in constant
time with ``POSTMARK_WEBHOOK_USER`` and ``POSTMARK_WEBHOOK_PASSWORD``. One record per
request. Mapping (Postmark's "Bounce webhook", "Spam complaint webhook" and
"Subscription change webhook" pages, and its bounce type table):

- ``Bounce``: ``HardBounce``, ``BadEmailAddress`` → hard bounce; ``SoftBounce``,
  ``Transient``, ``DnsError`` → soft bounce; ``SpamNotification``, ``SpamComplaint`` →
  complaint; ``Unsubscribe`` → all marketing; other types ignored;
- ``SpamComplaint`` → complaint;
- ``SubscriptionChange``: ``SuppressSending`` true → stop (a ``HardBounce`` or
  ``SpamComplaint`` reason as such, otherwise an unsubscribe), false with ``Origin``
  ``Recipient`` → resubscribe (lifts an unsubscribe, never a hard stop); a reactivation
  by the customer or Postmark's staff is ignored (it is not the person asking);
- a record on a stream named in ``POSTMARK_STREAM_TOPICS`` concerns that topic only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from prefcenter.errors import WebhookMalformed, WebhookUnauthorized
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, load_json, short, text

PROVIDER = "postmark"
_BOUNCES = {
    "HardBounce": EventKind.HARD_BOUNCE,
    "BadEmailAddress": EventKind.HARD_BOUNCE,
    "SoftBounce": EventKind.SOFT_BOUNCE,
    "Transient": EventKind.SOFT_BOUNCE,
    "DnsError": EventKind.SOFT_BOUNCE,
    "SpamNotification": EventKind.COMPLAINT,
    "SpamComplaint": EventKind.COMPLAINT,
    "Unsubscribe": EventKind.SUPPRESS,
}
_SUPPRESSIONS = {"HardBounce": EventKind.HARD_BOUNCE, "SpamComplaint": EventKind.COMPLAINT}


def verify(authorization: str, user: str, password: str) -> None:
    """Check HTTP basic credentials (RFC 7617) against the configured pair, in constant time.

    Raises:
        WebhookUnauthorized: missing, malformed or wrong credentials.
    """
    scheme, _, encoded = authorization.partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        given = b""
    expected = f"{user}:{password}".encode()
    if scheme.lower() != "basic" or not hmac.compare_digest(given, expected):
        raise WebhookUnauthorized(
            "The Postmark webhook credentials are missing or wrong; write "
            "POSTMARK_WEBHOOK_USER and _PASSWORD into the webhook URL as user:password@.",
            provider=PROVIDER,
        )


def parse(body: bytes, streams: Mapping[str, str]) -> list[HookEvent]:
    """The event of one Postmark record; ``streams`` maps message streams to topics.

    Raises:
        WebhookMalformed: not a Postmark record.
    """
    data = load_json(body, PROVIDER)
    if not isinstance(data, dict):
        raise WebhookMalformed("The Postmark body is not a JSON object.", provider=PROVIDER)
    record = text(data, "RecordType", PROVIDER)
    stream = text(data, "MessageStream", PROVIDER, required=False)
    topic = streams.get(stream)
    fields = (("stream", short(stream, 60)), ("message", short(data.get("MessageID") or "", 80)))
    if record in ("Bounce", "SpamComplaint"):
        bounce_type = text(data, "Type", PROVIDER)
        kind = _BOUNCES.get(bounce_type, EventKind.IGNORE)
        return [
            HookEvent(
                PROVIDER,
                kind,
                text(data, "Email", PROVIDER),
                Channel.EMAIL,
                f"{PROVIDER}:{record.lower()}:{text(data, 'ID', PROVIDER)}",
                reason=short(bounce_type, 40),
                topic=topic if kind is EventKind.SUPPRESS else None,
                fields=(
                    ("type", short(bounce_type, 40)),
                    # The receiving server's words: the bounce policy reads the reason there.
                    ("details", short(data.get("Details") or data.get("Description") or "")),
                    *fields,
                ),
            )
        ]
    if record == "SubscriptionChange":
        return [_subscription_change(data, topic, fields)]
    return []


def _subscription_change(
    data: Mapping[str, Any], topic: str | None, fields: tuple[tuple[str, str], ...]
) -> HookEvent:
    suppress = data.get("SuppressSending")
    if not isinstance(suppress, bool):
        raise WebhookMalformed(
            "The Postmark SubscriptionChange has no true/false SuppressSending.", provider=PROVIDER
        )
    why = text(data, "SuppressionReason", PROVIDER, required=False)
    origin = text(data, "Origin", PROVIDER, required=False)
    if suppress:
        kind = _SUPPRESSIONS.get(why, EventKind.SUPPRESS)
        reason = f"suppressed in Postmark: {why or 'no reason'}"
    elif origin == "Recipient":
        kind = EventKind.RESUBSCRIBE
        reason = "resubscribed through Postmark"
    else:
        # An operator reactivating an address in Postmark is not the person asking:
        # their own opt-out here stays (a resubscribe needs the person's request).
        kind = EventKind.IGNORE
        reason = f"reactivated in Postmark by {origin or 'unknown'}"
    # No event id: the change is named by its message (null for manual changes) and time.
    changed_at = text(data, "ChangedAt", PROVIDER)
    message = data.get("MessageID") or "manual"
    return HookEvent(
        PROVIDER,
        kind,
        text(data, "Recipient", PROVIDER),
        Channel.EMAIL,
        f"{PROVIDER}:change:{short(message, 80)}:{short(changed_at, 40)}",
        reason=reason,
        topic=topic if kind in (EventKind.SUPPRESS, EventKind.RESUBSCRIBE) else None,
        fields=(("origin", short(origin, 20)), *fields),
    )


__all__ = ["PROVIDER", "parse", "verify"]
