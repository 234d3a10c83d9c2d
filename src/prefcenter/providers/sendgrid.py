"""SendGrid's Event Webhook (``POST /hooks/sendgrid``): signed batches of events.

SendGrid signs ``timestamp + raw body`` with ECDSA P-256 / SHA-256 and sends the
signature (base64 DER) in ``X-Twilio-Email-Event-Webhook-Signature`` and the timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``; the verification key (base64 DER
SubjectPublicKeyInfo) is shown under Mail Settings. A body is a JSON array of events,
each with its own ``sg_event_id``. Mapping (SendGrid's "Event Webhook reference"):

- ``bounce`` with ``type`` ``bounce`` (or no type) → hard bounce; ``type`` ``blocked`` →
  soft bounce;
- ``dropped``: reason ``Bounced Address`` or ``Invalid`` → hard bounce, ``Spam Reporting
  Address`` → complaint, ``Unsubscribed Address`` → unsubscribe; other reasons ignored;
- ``spamreport`` → complaint; ``unsubscribe`` → all marketing;
- ``group_unsubscribe`` / ``group_resubscribe`` → the topic ``SENDGRID_ASM_GROUPS`` maps
  ``asm_group_id`` to; an unmapped group's unsubscribe stops all marketing (more than
  asked, never less) and its resubscribe is ignored (never lift more than asked).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from prefcenter.errors import ConfigError, WebhookMalformed, WebhookUnauthorized
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, load_json, short, text

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
#: Most events read from one request (SendGrid batches far fewer).
MAX_EVENTS = 10_000
#: Provider fields kept with each event: (label, SendGrid's name, longest value kept).
_KEPT = (
    ("type", "type", 20),
    ("status", "status", 20),
    ("group", "asm_group_id", 20),
    ("message", "sg_message_id", 80),
)
_DROPPED = {
    "Bounced Address": EventKind.HARD_BOUNCE,
    "Invalid": EventKind.HARD_BOUNCE,
    "Spam Reporting Address": EventKind.COMPLAINT,
    "Unsubscribed Address": EventKind.SUPPRESS,
}


def public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key from its base64 DER (PEM is accepted too).

    Raises:
        ConfigError: not an EC public key; copy it again from Mail Settings.
    """
    text_value = value.strip()
    try:
        if text_value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text_value.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text_value, validate=True))
    except (ValueError, binascii.Error, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(
            "Setting SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA public key; copy the "
            "Verification Key from SendGrid's Mail Settings, Signed Event Webhook.",
            name="sendgrid_webhook_public_key",
        )
    return key


def verify(
    key: ec.EllipticCurvePublicKey,
    body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
    tolerance: float = 0.0,
) -> None:
    """Check the signature of ``timestamp + body``, then how old the timestamp is.

    SendGrid documents no window for its timestamp, and retries a batch "for up to 24
    hours after the event occurs" without saying whether a retry is signed anew; a replay
    changes nothing anyway (each event's ``sg_event_id`` is its evidence). So the age is
    checked only against a generous ``tolerance`` (seconds; 0 turns the check off), which
    refuses a request captured days ago, never SendGrid's own retries.

    Args:
        now: the host's clock (Unix seconds); needed when ``tolerance`` is set.
        tolerance: largest distance, either way, between the signed timestamp and ``now``.

    Raises:
        WebhookUnauthorized: a header is missing, the signature does not match, or the
            timestamp is further than ``tolerance`` from ``now``.
    """
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise WebhookUnauthorized(
            "The SendGrid signature does not match this body and the configured "
            "SENDGRID_WEBHOOK_PUBLIC_KEY; nothing was changed.",
            provider=PROVIDER,
        ) from None
    if tolerance and now is not None:
        stamp = timestamp.strip()
        age = now - int(stamp) if stamp.isdigit() and len(stamp) < 16 else None
        if age is None or abs(age) > tolerance:
            raise WebhookUnauthorized(
                f"The SendGrid timestamp {short(timestamp, 20)!r} is more than "
                f"{tolerance:.0f} seconds from this host's clock "
                "(SENDGRID_TIMESTAMP_TOLERANCE); nothing was changed. Check the clock, or "
                "raise the setting (0s turns the check off).",
                provider=PROVIDER,
            )


def parse(body: bytes, groups: Mapping[str, str]) -> list[HookEvent]:
    """The events of a verified batch; ``groups`` maps ASM group ids to topics.

    An event without its ``event``, ``email`` or ``sg_event_id`` is kept as ignored (the
    rest of the batch still counts).

    Raises:
        WebhookMalformed: not a JSON array of event objects.
    """
    data = load_json(body, PROVIDER)
    if (
        not isinstance(data, list)
        or len(data) > MAX_EVENTS
        or not all(isinstance(item, dict) for item in data)
    ):
        raise WebhookMalformed(
            f"The SendGrid body is not a JSON array of at most {MAX_EVENTS} event objects.",
            provider=PROVIDER,
        )
    events = []
    for index, item in enumerate(data):
        try:
            event = _event(item, groups)
        except WebhookMalformed as error:
            # One broken event must not send the whole batch back for ever (a 400 is
            # retried, or dropped, whole): it is kept as ignored, with what was wrong.
            event = HookEvent(
                PROVIDER, EventKind.IGNORE, "", Channel.EMAIL, f"{PROVIDER}:#{index}", str(error)
            )
        if event is not None:
            events.append(event)
    return events


def _event(item: Mapping[str, Any], groups: Mapping[str, str]) -> HookEvent | None:
    name = text(item, "event", PROVIDER)
    kind, topic, reason = _meaning(name, item, groups)
    if kind is None:
        return None  # deliveries, opens, clicks: no recipient checked, nothing kept
    # Only the fields the event has (a batch of a thousand: this runs a thousand times).
    fields = tuple((label, short(item[key], limit)) for label, key, limit in _KEPT if item.get(key))
    return HookEvent(
        PROVIDER,
        kind,
        text(item, "email", PROVIDER),
        Channel.EMAIL,
        f"{PROVIDER}:{text(item, 'sg_event_id', PROVIDER)}",
        reason=reason,
        topic=topic,
        fields=fields,
    )


def _meaning(
    name: str, item: Mapping[str, Any], groups: Mapping[str, str]
) -> tuple[EventKind | None, str | None, str]:
    if name == "bounce":
        if item.get("type") == "blocked":
            return (
                EventKind.SOFT_BOUNCE,
                None,
                f"blocked {short(item.get('status', ''), 20)}".strip(),
            )
        return EventKind.HARD_BOUNCE, None, f"bounce {short(item.get('status', ''), 20)}".strip()
    if name == "dropped":
        why = short(item.get("reason", ""), 60)
        return _DROPPED.get(why, EventKind.IGNORE), None, f"dropped: {why}"
    if name == "spamreport":
        return EventKind.COMPLAINT, None, "spam report"
    if name == "unsubscribe":
        return EventKind.SUPPRESS, None, "unsubscribed in SendGrid"
    if name in ("group_unsubscribe", "group_resubscribe"):
        group = short(item.get("asm_group_id", ""), 20)
        topic = groups.get(group)
        if name == "group_unsubscribe":
            return EventKind.SUPPRESS, topic, f"left SendGrid group {group}"
        if topic is None:
            return EventKind.IGNORE, None, f"rejoined unmapped SendGrid group {group}"
        return EventKind.RESUBSCRIBE, topic, f"rejoined SendGrid group {group}"
    return None, None, ""


__all__ = [
    "MAX_EVENTS",
    "PROVIDER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "parse",
    "public_key",
    "verify",
]
