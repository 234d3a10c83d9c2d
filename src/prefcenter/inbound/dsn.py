"""Delivery status notifications: RFC 3464 reports and the common plain-text bounces.

A bounce is read only from the report itself: the ``message/delivery-status`` fields,
or the human-readable text of a plain-text bounce up to the point where the returned
original starts. Addresses quoted in the returned original are never looked at, so a
bounce cannot be pinned on somebody merely named in the message that bounced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from prefcenter.inbound.message import InboundMessage, field_blocks_of


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
    """

    recipient: str | None
    original: str | None
    action: str
    status: str
    diagnostic: str
    kind: BounceKind


@dataclass(frozen=True)
class Bounce:
    """A parsed bounce.

    Attributes:
        format: ``rfc3464``, ``qmail``, ``exim``, ``postfix``, ``exchange``, ``gmail`` or
            ``text`` (recognised as a bounce, but no known layout).
        recipients: the per-recipient results, possibly empty.
    """

    format: str
    recipients: tuple[RecipientStatus, ...]

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


_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY_CODE = re.compile(r"(?<!\d)([45])\d\d(?![\d.])")
_ADDRESS = re.compile(
    r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63})>?"
)
_HARD_TEXT = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|"
    r"doesn't exist|(couldn't|could not|can't|cannot) be found|recipient not found|"
    r"not found by smtp address lookup|invalid (recipient|mailbox|address)|"
    r"mailbox (unavailable|not found|disabled)|account (has been )?disabled|"
    r"unrouteable address|unknown recipient|no mailbox here|address rejected|"
    r"user (not found|doesn't have)|host or domain name not found|domain (not found|"
    r"does not exist)",
    re.IGNORECASE,
)
_FULL_TEXT = re.compile(
    r"mailbox (is )?full|over ?quota|quota exceeded|exceeded (the |its )?(storage|quota)|"
    r"insufficient (system )?storage|out of storage",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"has not (yet )?been delivered|will (continue to )?(retry|try)|delivery (is )?delayed|"
    r"temporar(il)?y (failure|problem|error|deferred)|still trying",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed|failed|problem)|"
    r"mail delivery (failed|subsystem|system)|returned mail|failure notice|"
    r"undelivered mail|non[- ]?delivery|could not be delivered|delivery notification",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery (subsystem|system)", re.I)

# Where the returned original starts in plain-text bounces; nothing after it is read.
_ORIGINAL_MARKERS = re.compile(
    r"^\s*(-+ ?below this line is a copy of the message|"
    r"-+ ?this is a copy of the message|"
    r"-+ ?original message|"
    r"-+ ?the (original )?(message|header)[^\n]{0,40}follow|"
    r"original message headers:|"
    r"-+ ?message header follows|"
    r"received: from |return-path: )",
    re.IGNORECASE | re.MULTILINE,
)


def classify(action: str, status: str, diagnostic: str) -> BounceKind:
    """Decide what one recipient result means.

    X.1.x (bad address), X.2.0/X.2.1 (mailbox gone or disabled), X.4.4 (no route) and
    a diagnostic saying the user does not exist are hard when the class is 5. Mailbox
    full (X.2.2, RFC 3463 §3.3, both 4.2.2 and 5.2.2) and every 4.x.x are soft; other
    permanent codes (policy, content, size: X.3-X.7) are about the message, not the
    address, so they are counted as soft rather than losing a reader to a spam filter.
    """
    action = action.lower().strip()
    if action == "delayed":
        return BounceKind.DELAYED
    if action in ("delivered", "relayed", "expanded"):
        return BounceKind.DELIVERED
    code = _STATUS.search(status) or _STATUS.search(diagnostic)
    if code and code[0].endswith(".0.0"):  # generic: the diagnostic may be sharper
        code = _STATUS.search(diagnostic) or code
    if code is None:
        if _FULL_TEXT.search(diagnostic):
            return BounceKind.SOFT
        if _HARD_TEXT.search(diagnostic):
            reply = _REPLY_CODE.search(diagnostic)
            return BounceKind.SOFT if reply and reply[1] == "4" else BounceKind.HARD
        reply = _REPLY_CODE.search(diagnostic)
        if reply and reply[1] == "4":
            return BounceKind.SOFT
        if _DELAY_TEXT.search(diagnostic):
            return BounceKind.DELAYED
        return BounceKind.UNDECIDED
    klass, subject, detail = code[1], code[2], code[3]
    if klass == "2":
        return BounceKind.DELIVERED
    if subject == "2" and detail == "2":
        return BounceKind.SOFT
    if klass == "4":
        return BounceKind.SOFT
    if _FULL_TEXT.search(diagnostic):
        return BounceKind.SOFT
    if (
        subject == "1"
        or (subject == "2" and detail in ("0", "1"))
        or (subject, detail) == ("4", "4")
    ):
        return BounceKind.HARD
    if subject == "0" and _HARD_TEXT.search(diagnostic):
        return BounceKind.HARD
    if subject == "0":
        return BounceKind.UNDECIDED
    return BounceKind.SOFT


def _address(value: str) -> str | None:
    # "rfc822; alice@example.com" or "rfc822;<alice@example.com>" or a bare address
    kind, semi, rest = value.partition(";")
    text = rest if semi else kind
    match = _ADDRESS.search(text)
    return match[1] if match else None


def _from_report(message: InboundMessage) -> Bounce | None:
    for part in message.parts():
        if part.returned:
            continue
        if part.content_type not in (
            "message/delivery-status",
            "message/global-delivery-status",
        ):
            continue
        blocks = field_blocks_of(part.message)
        return Bounce("rfc3464", tuple(_recipient_statuses(blocks)))
    return None


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
        results.append(
            RecipientStatus(
                recipient=final or original,
                original=original,
                action=action,
                status=(_STATUS.search(status) or _STATUS.search(diag_text) or [""])[0],
                diagnostic=diag_text.strip()[:500],
                kind=classify(action, status, diag_text),
            )
        )
    return results


def human_text(message: InboundMessage) -> str:
    """The bounce's own text, cut where a quoted original starts."""
    text = message.text()
    marker = _ORIGINAL_MARKERS.search(text)
    return text[: marker.start()] if marker else text


def looks_like_bounce(message: InboundMessage, mail_from: str | None = None) -> bool:
    """True for a null return path, a MAILER-DAEMON sender or a bounce-like subject."""
    if message.content_type == "multipart/report" and message.param("report-type") in (
        "delivery-status",
        "global-delivery-status",
    ):
        return True
    if mail_from is not None and mail_from.strip("<> ") == "":
        return True  # the null reverse-path (RFC 5321 §4.5.5) is used only by bounces
    sender = message.header("From")
    return bool(_BOUNCE_SENDER.search(sender) or _BOUNCE_SUBJECT.search(message.subject))


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


def _from_text(message: InboundMessage, mail_domain: str) -> Bounce:
    text = human_text(message)
    fmt = _format_of(text, message)
    lines = text.splitlines()
    windows: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for index, line in enumerate(lines):
        for match in _ADDRESS.finditer(line):
            address = match[1]
            lowered = address.lower()
            if lowered.rpartition("@")[2] == mail_domain.lower():
                continue
            if re.search(r"(?i)(mailer-daemon|postmaster)@", address):
                continue
            spelling.setdefault(lowered, address)
            # Every mention of the address contributes the lines that follow it: Exchange
            # names the recipient once for people and once with the server's answer.
            windows.setdefault(lowered, []).append("\n".join(lines[index : index + 8]))
    results: list[RecipientStatus] = []
    for lowered, parts in windows.items():
        window = "\n".join(parts)
        status_match = _STATUS.search(window)
        results.append(
            RecipientStatus(
                recipient=spelling[lowered],
                original=None,
                action="failed",
                status=status_match[0] if status_match else "",
                diagnostic=" ".join(window.split())[:500],
                kind=classify("failed", "", window),
            )
        )
    return Bounce(fmt, tuple(results))


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
    report = _from_report(message)
    if report is not None:
        return report
    if not looks_like_bounce(message, mail_from):
        return None
    return _from_text(message, mail_domain)
