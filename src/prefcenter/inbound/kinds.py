"""What kind of machine mail a message is: a delivery report, another report, an auto-reply.

Decided from headers and structure only, before any bounce is read: an RFC 3834
vacation reply sent with the null return path is not a bounce, a DMARC failure report
from ``postmaster@`` is not a bounce, and a mail system's notice is machine-made even
when nobody can tell what it means.
"""

from __future__ import annotations

import json
import re
from typing import Any

from prefcenter.inbound.message import InboundMessage
from prefcenter.inbound.replies import automatic_reason, classify_reply

BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed|failed|problem)|"
    r"mail delivery (failed|subsystem|system)|returned mail|failure notice|"
    r"undelivered mail|non[- ]?delivery|could not be delivered|delivery notification|"
    r"nicht zustellbar|unzustellbar|non remis|non distribuable|no se puede entregar|"
    r"no entregado|non recapitabile|mancata consegna|onbestelbaar|niedostarczon|"
    r"配信不能|配送失败|退信|系統退信",
    re.IGNORECASE,
)
BOUNCE_SENDER = re.compile(
    r"mailer-daemon|postmaster|mail delivery (subsystem|system)|mail administrator", re.I
)
#: A report that is about authentication (DMARC, OpenDMARC) rather than delivery.
_NOT_DELIVERY_REPORT = re.compile(
    r"dmarc|report domain:|feedback-report|auth-failure|tls report|tls-rpt", re.IGNORECASE
)


def is_delivery_report(message: InboundMessage) -> bool:
    """True for a ``multipart/report`` about delivery (not feedback or DMARC reports)."""
    return message.content_type == "multipart/report" and message.param("report-type") in (
        "delivery-status",
        "global-delivery-status",
    )


def is_other_report(message: InboundMessage) -> bool:
    """A machine report that is not about delivery: ARF, DMARC failure or aggregate, TLS."""
    if message.content_type == "multipart/report" and message.param("report-type") in (
        "feedback-report",
        "tlsrpt",
    ):
        return True
    if is_delivery_report(message):
        return False
    subject = message.subject
    return bool(_NOT_DELIVERY_REPORT.search(subject)) and not BOUNCE_SUBJECT.search(subject)


def is_auto_reply(message: InboundMessage) -> bool:
    """An RFC 3834 auto-reply or out-of-office notice that is not a bounce notice.

    Vacation replies are sent with the null return path as RFC 3834 §3.3 recommends, so
    the envelope alone does not make a bounce.
    """
    if is_delivery_report(message):
        return False
    sender = message.header("From")
    subject = message.subject
    if BOUNCE_SENDER.search(sender) or BOUNCE_SUBJECT.search(subject):
        return False
    if sender.strip("<> \t") == "":
        return False  # "From: <>": a delivery agent's answer, whatever it is marked
    reply = classify_reply(message)
    if reply.out_of_office:
        return True
    if automatic_reason(message).startswith("Precedence:"):
        return True  # a person's address answering by itself ("Thank you for your e-mail")
    auto = message.header("Auto-Submitted").strip().lower()
    return auto.startswith("auto-replied") or bool(
        message.header("X-Autoreply") or message.header("X-Autorespond")
    )


def machine_made(message: InboundMessage) -> bool:
    """Sent by a mail system, not typed by a person (a daemon sender, a report, a notice)."""
    if message.content_type == "multipart/report":
        return True
    sender = message.header("From")
    if BOUNCE_SENDER.search(sender) or sender.strip("<> \t") == "":
        return True
    auto = message.header("Auto-Submitted").strip().lower()
    return auto.startswith("auto-generated")


def looks_like_bounce(message: InboundMessage, mail_from: str | None = None) -> bool:
    """True for a null return path, a MAILER-DAEMON sender or a bounce-like subject.

    Auto-replies (RFC 3834) and reports that are not about delivery are never bounces,
    whatever their envelope or sender says.
    """
    if is_delivery_report(message):
        return True
    if is_other_report(message) or is_auto_reply(message):
        return False
    if mail_from is not None and mail_from.strip("<> ") == "":
        return True  # the null reverse-path (RFC 5321 §4.5.5) is used only by bounces
    sender = message.header("From")
    return bool(BOUNCE_SENDER.search(sender) or BOUNCE_SUBJECT.search(message.subject))


def ses_notification(message: InboundMessage) -> dict[str, Any] | None:
    """The JSON object of an Amazon SES notification sent by mail, or None."""
    if b"notificationType" not in message.raw:
        return None
    text = message.text().strip()
    if '"notificationType"' not in text[:2000]:
        return None
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


__all__ = [
    "BOUNCE_SENDER",
    "BOUNCE_SUBJECT",
    "is_auto_reply",
    "is_delivery_report",
    "is_other_report",
    "looks_like_bounce",
    "machine_made",
    "ses_notification",
]
