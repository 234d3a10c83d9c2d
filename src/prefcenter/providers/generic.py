"""A generic signed JSON receiver (``POST /hooks/generic``) for any other gateway.

Requests are signed as the Standard Webhooks specification says (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``: HMAC-SHA256 of ``id.timestamp.body``,
timestamps within five minutes), checked by the ``standardwebhooks`` package with each
secret in ``GENERIC_WEBHOOK_SECRET``. The body is one event::

    {"type": "suppress", "recipient": "+14155550100", "channel": "sms",
     "topic": "deals", "reason": "told the call centre", "evidence": "crm-8812"}

``type`` is ``suppress``, ``resubscribe``, ``bounce`` (with ``"bounce": "hard"`` or
``"soft"``, hard by default) or ``complaint``; ``channel`` is ``email`` (default),
``sms`` or ``voice``. The evidence defaults to the ``webhook-id``, which the sender
keeps on retries, so a retried delivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prefcenter.errors import ConfigError, WebhookMalformed, WebhookUnauthorized
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, load_json, short, text

PROVIDER = "generic"
_TYPES = {
    "suppress": EventKind.SUPPRESS,
    "resubscribe": EventKind.RESUBSCRIBE,
    "complaint": EventKind.COMPLAINT,
}
_FIELDS = {"type", "recipient", "channel", "topic", "reason", "evidence", "bounce"}
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verifiers(secrets: Sequence[str]) -> list[Webhook]:
    """One verifier per configured secret.

    Raises:
        ConfigError: a secret is not ``whsec_`` + base64.
    """
    made = []
    for secret in secrets:
        try:
            made.append(Webhook(secret))
        except Exception:  # binascii.Error, EmptyWebhookSecretError
            raise ConfigError(
                "Setting GENERIC_WEBHOOK_SECRET has an entry that is not whsec_ followed "
                'by base64; generate one with `python -c "import base64,os;'
                "print('whsec_'+base64.b64encode(os.urandom(32)).decode())\"`.",
                name="generic_webhook_secret",
            ) from None
    return made


def verify(hooks: Sequence[Webhook], body: bytes, headers: Mapping[str, str]) -> None:
    """Check the Standard Webhooks signature with any of ``hooks``.

    Raises:
        WebhookUnauthorized: headers missing, timestamp too old or new, or no secret matches.
    """
    wanted = {name: headers.get(name, "") for name in _HEADERS}
    for hook in hooks:
        try:
            hook.verify(body, wanted, json_parse=False)
            return
        except WebhookVerificationError:
            continue
    raise WebhookUnauthorized(
        "The Standard Webhooks signature is missing, stale (over 5 minutes) or made with "
        "no secret in GENERIC_WEBHOOK_SECRET; nothing was changed.",
        provider=PROVIDER,
    )


def parse(body: bytes, message_id: str) -> list[HookEvent]:
    """The event of a verified body; ``message_id`` is its ``webhook-id``.

    Raises:
        WebhookMalformed: not one event object of the documented shape.
    """
    data = load_json(body, PROVIDER)
    if not isinstance(data, dict) or set(data) - _FIELDS:
        raise WebhookMalformed(
            f"The generic webhook body must be one JSON object with fields among "
            f"{', '.join(sorted(_FIELDS))}.",
            provider=PROVIDER,
        )
    name = text(data, "type", PROVIDER)
    if name == "bounce":
        hardness = text(data, "bounce", PROVIDER, required=False) or "hard"
        if hardness not in ("hard", "soft"):
            raise WebhookMalformed("Field 'bounce' must be hard or soft.", provider=PROVIDER)
        kind = EventKind.HARD_BOUNCE if hardness == "hard" else EventKind.SOFT_BOUNCE
    elif name in _TYPES:
        kind = _TYPES[name]
    else:
        raise WebhookMalformed(
            f"Event type {short(name, 40)!r} is not suppress, resubscribe, bounce or complaint.",
            provider=PROVIDER,
        )
    channel_name = text(data, "channel", PROVIDER, required=False) or "email"
    try:
        channel = Channel(channel_name)
    except ValueError:
        raise WebhookMalformed(
            f"Channel {short(channel_name, 20)!r} is not email, sms or voice.", provider=PROVIDER
        ) from None
    evidence = text(data, "evidence", PROVIDER, required=False) or message_id
    topic = text(data, "topic", PROVIDER, required=False) or None
    return [
        HookEvent(
            PROVIDER,
            kind,
            text(data, "recipient", PROVIDER),
            channel,
            f"{PROVIDER}:{short(evidence, 200)}",
            reason=short(text(data, "reason", PROVIDER, required=False) or name, 300),
            topic=topic,
        )
    ]


__all__ = ["PROVIDER", "parse", "verifiers", "verify"]
