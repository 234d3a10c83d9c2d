"""Amazon SES notifications delivered by SNS (``POST /hooks/ses``).

SES reports bounces, complaints and, for its own list management, subscription
changes by publishing JSON to an SNS topic; SNS POSTs it, signed, wrapped in an
envelope (:mod:`prefcenter.providers.sns` checks the signature). Both shapes SES
publishes are read: identity feedback notifications (``notificationType``) and
configuration-set events (``eventType``). Mapping (SES developer guide, "Amazon SES
notification contents" and "event publishing"):

- ``Bounce`` ``Permanent`` (any subtype) → hard bounce; ``Transient`` ``General``,
  ``MailboxFull`` and ``Undetermined`` → soft bounce; ``Transient`` ``MessageTooLarge``,
  ``ContentRejected``, ``AttachmentRejected`` → ignored (the message was at fault, not the
  address);
- ``Complaint`` → complaint (hard stop), unless its feedback type is ``not-spam``;
- ``Subscription`` → ``unsubscribeAll`` stops all marketing; a topic set to ``OptOut``
  stops that topic, ``OptIn`` lifts it;
- everything else (deliveries, opens, sends) → ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from prefcenter.errors import WebhookForbidden, WebhookMalformed
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, load_json, short, text

PROVIDER = "ses"
_SOFT_SUBTYPES = {"General", "MailboxFull"}


@dataclass(frozen=True, slots=True)
class Envelope:
    """An SNS message, its JSON fields as sent (the signature covers some of them)."""

    fields: Mapping[str, Any]

    @property
    def kind(self) -> str:
        """``Notification``, ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation``."""
        return str(self.fields.get("Type", ""))

    @property
    def topic_arn(self) -> str:
        """The SNS topic the message came from."""
        return str(self.fields.get("TopicArn", ""))

    @property
    def message_id(self) -> str:
        """SNS's id of the message: the same on every redelivery."""
        return str(self.fields.get("MessageId", ""))

    @property
    def certificate_url(self) -> str:
        """``SigningCertURL``."""
        return str(self.fields.get("SigningCertURL", ""))

    @property
    def subscribe_url(self) -> str:
        """``SubscribeURL`` of a subscription confirmation."""
        return str(self.fields.get("SubscribeURL", ""))


def envelope(body: bytes, topics: Collection[str]) -> Envelope:
    """Read the SNS envelope and refuse topics not configured (before any signature work).

    Raises:
        WebhookMalformed: not an SNS message.
        WebhookForbidden: its ``TopicArn`` is not in ``topics`` (``SES_TOPIC_ARNS``).
    """
    data = load_json(body, PROVIDER)
    if not isinstance(data, dict) or not isinstance(data.get("TopicArn"), str):
        raise WebhookMalformed(
            "The body is not an SNS message (no TopicArn); nothing was changed.", provider=PROVIDER
        )
    message = Envelope(data)
    if message.topic_arn not in topics:
        raise WebhookForbidden(
            f"SNS topic {message.topic_arn[:200]!r} is not in SES_TOPIC_ARNS; add it there "
            "to accept its notifications.",
            provider=PROVIDER,
        )
    return message


def parse(message: Envelope) -> list[HookEvent]:
    """The events of a verified ``Notification`` (call after the signature was checked).

    Raises:
        WebhookMalformed: the SES notification inside is not JSON or lacks its fields.
    """
    inner = load_json(str(message.fields.get("Message", "")).encode(), PROVIDER)
    if not isinstance(inner, dict):
        raise WebhookMalformed("The SNS Message is not an SES notification.", provider=PROVIDER)
    kind = inner.get("eventType") or inner.get("notificationType")
    evidence = f"{PROVIDER}:{message.message_id}"
    found = inner.get("mail")
    mail: Mapping[str, Any] = found if isinstance(found, dict) else {}
    fields = (("message", short(mail.get("messageId", ""), 80)),)
    if kind == "Bounce":
        return _bounce(_object(inner, "bounce"), evidence, fields)
    if kind == "Complaint":
        return _complaint(_object(inner, "complaint"), evidence, fields)
    if kind == "Subscription":
        return _subscription(_object(inner, "subscription"), mail, evidence, fields)
    return []


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise WebhookMalformed(f"The SES notification has no {name!r} object.", provider=PROVIDER)
    return value


def _list(data: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise WebhookMalformed(
            f"The SES field {name!r} is not a list of objects.", provider=PROVIDER
        )
    return value


def _bounce(
    bounce: Mapping[str, Any], evidence: str, fields: tuple[tuple[str, str], ...]
) -> list[HookEvent]:
    bounce_type = text(bounce, "bounceType", PROVIDER)
    subtype = text(bounce, "bounceSubType", PROVIDER, required=False)
    if bounce_type == "Permanent":
        kind = EventKind.HARD_BOUNCE
    elif bounce_type == "Undetermined" or subtype in _SOFT_SUBTYPES:
        kind = EventKind.SOFT_BOUNCE
    else:
        kind = EventKind.IGNORE
    events = []
    for recipient in _list(bounce, "bouncedRecipients"):
        status = text(recipient, "status", PROVIDER, required=False)
        events.append(
            HookEvent(
                PROVIDER,
                kind,
                text(recipient, "emailAddress", PROVIDER),
                Channel.EMAIL,
                evidence,
                reason=f"{bounce_type.lower()} bounce {status}".strip(),
                fields=(
                    ("type", short(bounce_type, 20)),
                    ("subtype", short(subtype, 40)),
                    ("diagnostic", short(recipient.get("diagnosticCode", ""))),
                    *fields,
                ),
            )
        )
    return events


def _complaint(
    complaint: Mapping[str, Any], evidence: str, fields: tuple[tuple[str, str], ...]
) -> list[HookEvent]:
    feedback = text(complaint, "complaintFeedbackType", PROVIDER, required=False)
    kind = EventKind.IGNORE if feedback == "not-spam" else EventKind.COMPLAINT
    return [
        HookEvent(
            PROVIDER,
            kind,
            text(recipient, "emailAddress", PROVIDER),
            Channel.EMAIL,
            evidence,
            reason=f"complaint {feedback}".strip(),
            fields=(("feedback", short(feedback, 40)), *fields),
        )
        for recipient in _list(complaint, "complainedRecipients")
    ]


def _subscription(
    subscription: Mapping[str, Any],
    mail: Mapping[str, Any],
    evidence: str,
    fields: tuple[tuple[str, str], ...],
) -> list[HookEvent]:
    recipients = mail.get("destination", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise WebhookMalformed(
            "The SES mail.destination is not a list of addresses.", provider=PROVIDER
        )
    preferences = subscription.get("newTopicPreferences")
    if not isinstance(preferences, dict):
        raise WebhookMalformed(
            "The SES subscription has no newTopicPreferences.", provider=PROVIDER
        )
    contact_list = short(subscription.get("contactList", ""), 80)
    extra = (("list", contact_list), ("source", short(subscription.get("source", ""), 40)), *fields)
    wanted: list[tuple[EventKind, str | None]] = []
    if preferences.get("unsubscribeAll") is True:
        wanted.append((EventKind.SUPPRESS, None))
    for item in _list(preferences, "topicSubscriptionStatus"):
        status = text(item, "subscriptionStatus", PROVIDER).replace("_", "").lower()
        topic = text(item, "topicName", PROVIDER)
        if status == "optout":
            wanted.append((EventKind.SUPPRESS, topic))
        elif status == "optin":
            wanted.append((EventKind.RESUBSCRIBE, topic))
    return [
        HookEvent(
            PROVIDER,
            kind,
            recipient,
            Channel.EMAIL,
            evidence,
            reason="unsubscribed in SES" if kind is EventKind.SUPPRESS else "subscribed in SES",
            topic=topic,
            fields=extra,
        )
        for recipient in recipients
        for kind, topic in wanted
    ]


__all__ = ["PROVIDER", "Envelope", "envelope", "parse"]
