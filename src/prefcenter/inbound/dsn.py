"""Delivery status notifications: RFC 3464 reports and the common plain-text bounces.

A bounce is read only from the report itself: the ``message/delivery-status`` fields,
or the human-readable text of a plain-text bounce up to the point where the returned
original starts. Addresses quoted in the returned original are never looked at, so a
bounce cannot be pinned on somebody merely named in the message that bounced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum

from prefcenter.bounces.reasons import ADDRESS_REASONS, STATUS, Reason, is_permanent, reason_of
from prefcenter.inbound.kinds import (
    looks_like_bounce,
    ses_notification,
)
from prefcenter.inbound.message import InboundMessage, Part, field_blocks_of, payload_text


class BounceKind(StrEnum):
    """What a bounce means for the recipient."""

    #: The address does not work (user unknown, domain gone): suppress as hard.
    HARD = "hard"
    #: Temporary or not about the address (mailbox full, 4.x.x, policy): count it.
    SOFT = "soft"
    #: Still being retried (``Action: delayed``): nothing to do.
    DELAYED = "delayed"
    #: Delivered, relayed or expanded (a success report): nothing to do.
    DELIVERED = "delivered"
    #: A bounce whose meaning we cannot tell: a person decides.
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a bounce.

    Attributes:
        recipient: the failed address (Final-Recipient, else Original-Recipient), or None.
        original: the Original-Recipient address, if given.
        action: ``failed``, ``delayed``, ``delivered``... (lower-case, may be ``""``).
        status: the enhanced status code ``X.Y.Z``, ``""`` when none was found.
        diagnostic: the remote server's text, shortened.
        kind: what it means, see :class:`BounceKind`.
        reason: why it failed, see :class:`~prefcenter.bounces.reasons.Reason`.
    """

    recipient: str | None
    original: str | None
    action: str
    status: str
    diagnostic: str
    kind: BounceKind
    reason: Reason = Reason.UNDECIDED


@dataclass(frozen=True)
class Bounce:
    """A parsed bounce.

    Attributes:
        format: ``rfc3464``, ``qmail``, ``exim``, ``postfix``, ``exchange``, ``gmail``,
            ``ses`` (an Amazon SES notification sent by mail) or ``text`` (recognised as
            a bounce, but no known layout).
        recipients: the per-recipient results, possibly empty.
    """

    format: str
    recipients: tuple[RecipientStatus, ...]

    @property
    def reason(self) -> Reason:
        """The reason of the first recipient of the decisive kind."""
        kind = self.kind
        return next((r.reason for r in self.recipients if r.kind is kind), Reason.UNDECIDED)

    @property
    def kind(self) -> BounceKind:
        """The most decisive kind among the recipients (hard > soft > undecided > ...)."""
        kinds = {r.kind for r in self.recipients}
        for kind in (
            BounceKind.HARD,
            BounceKind.SOFT,
            BounceKind.UNDECIDED,
            BounceKind.DELAYED,
            BounceKind.DELIVERED,
        ):
            if kind in kinds:
                return kind
        return BounceKind.UNDECIDED


_ADDRESS = re.compile(
    r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63})>?"
)
#: Exchange writes ``SMTP=user@host`` or ``smtp:user@host``; some gateways leave a quote.
_ADDRESS_PREFIX = re.compile(r"^(?:smtp[=:]|rfc822[=:;]|mailto:|['\"`]+)+", re.IGNORECASE)
# Where the returned original starts in plain-text bounces; nothing after it is read.
_ORIGINAL_MARKERS = re.compile(
    r"^\s*(-+ ?below this line is a copy of the message|"
    r"-+ ?this is a copy of the message|"
    r"-+ ?original message|"
    r"-+ ?the (original )?(message|header)[^\n]{0,40}follow|"
    r"original message headers:|"
    r"-+ ?message header follows|"
    r"-+ ?returned message|"
    r"original message follows|"
    r"received: from |return-path: )",
    re.IGNORECASE | re.MULTILINE,
)


def assess(action: str, status: str, diagnostic: str) -> tuple[BounceKind, Reason]:
    """What one recipient result means, and why.

    Only an address reason (user or host unknown) that is permanent is hard: mailbox
    full (X.2.2, both 4.2.2 and 5.2.2), every temporary failure, and every permanent
    failure about the message rather than the address (size, content, policy, X.3-X.7)
    are soft, so a spam filter never loses us a reader.
    """
    action = action.lower().strip()
    if action == "delayed":
        return BounceKind.DELAYED, Reason.DELAYED
    if action in ("delivered", "relayed", "expanded"):
        return BounceKind.DELIVERED, Reason.DELIVERED
    reason = reason_of(status, diagnostic)
    if reason is Reason.DELIVERED:
        return BounceKind.DELIVERED, reason
    permanent = is_permanent(action, status, diagnostic)
    if reason is Reason.DELAYED and not permanent:
        return BounceKind.DELAYED, reason
    if reason in ADDRESS_REASONS and permanent:
        return BounceKind.HARD, reason
    if reason is Reason.UNDECIDED:
        return (BounceKind.SOFT if permanent is False else BounceKind.UNDECIDED), reason
    return BounceKind.SOFT, reason


def classify(action: str, status: str, diagnostic: str) -> BounceKind:
    """What one recipient result means; see :func:`assess`."""
    return assess(action, status, diagnostic)[0]


def clean_address(address: str) -> str:
    """An address without an Exchange ``SMTP=`` prefix or stray quotes."""
    return _ADDRESS_PREFIX.sub("", address.strip()).strip("'\"`")


def _address(value: str) -> str | None:
    # "rfc822; alice@example.com" or "rfc822;<alice@example.com>" or a bare address
    kind, semi, rest = value.partition(";")
    text = rest if semi else kind
    match = _ADDRESS.search(text)
    return clean_address(match[1]) if match else None


def _report_parts(message: InboundMessage) -> list[tuple[InboundMessage, Part]]:
    """Delivery-status parts: the message's own, else one forwarded inside message/rfc822."""
    own = [
        (message, part)
        for part in message.parts()
        if not part.returned and part.content_type in _DSN_TYPES
    ]
    if own or message.content_type == "multipart/report":
        return own
    # Some gateways forward the whole report as an attachment: read the first one only,
    # and only when the outer message is itself a bounce notice.
    for part in message.parts():
        if part.content_type != "message/rfc822" or part.depth > 2:
            continue
        inner = part.message.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            forwarded = InboundMessage(message.raw, inner[0])
            if forwarded.content_type == "multipart/report":
                return [
                    (forwarded, sub)
                    for sub in forwarded.parts()
                    if not sub.returned and sub.content_type in _DSN_TYPES
                ]
        return []
    return []


_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")


def _from_report(message: InboundMessage, mail_domain: str = "") -> Bounce | None:
    found = _report_parts(message)
    if not found:
        return None
    holder, part = found[0]
    blocks = field_blocks_of(part.message)
    statuses = _recipient_statuses(blocks)
    if not statuses or all(_says_nothing(r) for r in statuses):
        # An empty or bare delivery-status part: the human-readable text says what
        # happened; keep the report's recipients as the only candidates when it has any.
        named = {r.recipient.lower() for r in statuses if r.recipient}
        text_bounce = _from_text(holder, mail_domain, only=named)
        if text_bounce.recipients:
            return Bounce("rfc3464", text_bounce.recipients)
    return Bounce("rfc3464", tuple(statuses))


def _says_nothing(result: RecipientStatus) -> bool:
    return result.kind is BounceKind.UNDECIDED and not result.diagnostic


def _recipient_statuses(blocks: list[list[tuple[str, str]]]) -> list[RecipientStatus]:
    results: list[RecipientStatus] = []
    for block in blocks:
        fields = {name.lower(): value for name, value in block}
        if "final-recipient" not in fields and "original-recipient" not in fields:
            continue  # the per-message block
        final = _address(fields.get("final-recipient", ""))
        original = _address(fields.get("original-recipient", ""))
        action = fields.get("action", "").strip().lower()
        status = fields.get("status", "").strip()
        diagnostic = fields.get("diagnostic-code", "")
        diag_text = diagnostic.partition(";")[2] or diagnostic
        kind, reason = assess(action, status, diag_text)
        results.append(
            RecipientStatus(
                recipient=final or original,
                original=original,
                action=action,
                status=(STATUS.search(status) or STATUS.search(diag_text) or [""])[0],
                diagnostic=" ".join(diag_text.split())[:500],
                kind=kind,
                reason=reason,
            )
        )
    return results


def human_text(message: InboundMessage) -> str:
    """The bounce's own text, cut where a quoted original starts.

    A ``multipart/*`` message whose boundary is missing or wrong is read as one text.
    """
    text = message.text()
    if not text.strip() and not message.message.is_multipart():
        text = payload_text(message.message)
    marker = _ORIGINAL_MARKERS.search(text)
    return text[: marker.start()] if marker else text


def _format_of(text: str, message: InboundMessage) -> str:
    lowered = text.lower()
    if "qmail-send program" in lowered:
        return "qmail"
    if "mail delivery software" in lowered or "following address(es) failed" in lowered:
        return "exim"
    if "this is the mail system at host" in lowered or "in reply to rcpt to command" in lowered:
        return "postfix"
    if "delivery has failed to these recipients" in lowered or "remote server returned" in lowered:
        return "exchange"
    if "message wasn't delivered" in lowered or "google" in message.header("From").lower():
        return "gmail"
    return "text"


def _from_text(
    message: InboundMessage, mail_domain: str, *, only: set[str] | None = None
) -> Bounce:
    text = human_text(message)
    fmt = _format_of(text, message)
    lines = text.splitlines()[:2000]
    windows: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        for match in _ADDRESS.finditer(line):
            address = clean_address(match[1])
            lowered = address.lower()
            if mail_domain and lowered.rpartition("@")[2] == mail_domain.lower():
                continue
            if re.search(r"(?i)(mailer-daemon|postmaster)@", address):
                continue
            if only and lowered not in only:
                continue
            spelling.setdefault(lowered, address)
            # Every mention of the address contributes the lines that follow it: Exchange
            # names the recipient once for people and once with the server's answer.
            windows.setdefault(lowered, []).append("\n".join(lines[index : index + 8]))
    results: list[RecipientStatus] = []
    if not windows and only:
        # The report named recipients but the text never repeats them: the whole text
        # is about them (a one-recipient report with the reason only in prose).
        for lowered in sorted(only)[:1] if len(only) == 1 else []:
            spelling[lowered] = lowered
            windows[lowered] = [text]
    for lowered, parts in windows.items():
        window = "\n".join(parts)
        # The server's words may sit far from the address (an intro, then the reason):
        # read the window first, then the whole text when the window says nothing.
        kind, reason = assess("failed", "", window)
        if reason is Reason.UNDECIDED and len(windows) == 1:
            kind, reason = assess("failed", "", " ".join(text[:6000].split()))
        status_match = STATUS.search(window)
        results.append(
            RecipientStatus(
                recipient=spelling[lowered],
                original=None,
                action="failed",
                status=status_match[0] if status_match else "",
                diagnostic=" ".join(window.split())[:500],
                kind=kind,
                reason=reason,
            )
        )
    return Bounce(fmt, tuple(results))


def _from_ses(message: InboundMessage) -> Bounce | None:
    """An Amazon SES bounce notification delivered by mail (JSON in the text)."""
    notice = ses_notification(message)
    if notice is None or notice.get("notificationType") != "Bounce":
        return None
    bounce = notice.get("bounce")
    if not isinstance(bounce, dict):
        return Bounce("ses", ())
    permanent = bounce.get("bounceType") == "Permanent"
    results: list[RecipientStatus] = []
    for entry in bounce.get("bouncedRecipients") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("emailAddress"), str):
            continue
        status = str(entry.get("status") or "")
        diagnostic = str(entry.get("diagnosticCode") or bounce.get("bounceSubType") or "")
        action = "failed" if permanent else str(entry.get("action") or "failed")
        kind, reason = assess(action, status, diagnostic)
        if not permanent and kind is BounceKind.HARD:
            kind = BounceKind.SOFT  # SES itself calls it transient
        results.append(
            RecipientStatus(
                recipient=clean_address(entry["emailAddress"]),
                original=None,
                action=action,
                status=(STATUS.search(status) or [""])[0],
                diagnostic=" ".join(diagnostic.split())[:500],
                kind=kind,
                reason=reason,
            )
        )
    return Bounce("ses", tuple(results))


def parse_bounce(
    message: InboundMessage, *, mail_from: str | None = None, mail_domain: str = ""
) -> Bounce | None:
    """Read a bounce out of a message; None when it is not a bounce at all.

    Args:
        message: the parsed inbound message.
        mail_from: the SMTP envelope sender (``""`` for the null sender ``<>``), or None
            when unknown.
        mail_domain: our own domain; addresses there are never taken as failed recipients.
    """
    report = _from_report(message, mail_domain)
    if report is not None:
        return report
    ses = _from_ses(message)
    if ses is not None:
        return ses
    if not looks_like_bounce(message, mail_from):
        return None
    return _from_text(message, mail_domain)


__all__ = [
    "Bounce",
    "BounceKind",
    "RecipientStatus",
    "assess",
    "classify",
    "clean_address",
    "human_text",
    "looks_like_bounce",
    "parse_bounce",
]
