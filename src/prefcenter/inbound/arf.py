"""Complaint reports: RFC 5965 Abuse Reporting Format, read leniently.

Real feedback loops deviate: ``Version`` missing or ``0.1``, the original sent as
``text/rfc822-headers`` or plain text instead of ``message/rfc822``, or left out, and
the complaining recipient redacted. So the report is recognised by any part carrying
``Feedback-Type``, and the recipient is found first through our own token in the
returned original's ``List-Unsubscribe`` (which providers keep), then ``Original-Rcpt-To``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prefcenter.inbound.message import (
    InboundMessage,
    field_blocks_of,
    header_fields,
    parse_fields,
    payload_text,
)

#: Feedback types that mean "this person does not want this mail" (RFC 5965 §7.3).
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", "opt-out", ""})

_ADDRESS = re.compile(r"[^\s<>;,@]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_REDACTED = re.compile(r"(?i)redacted|^x+@|@x+\.|\*{2,}|\[.*\]")
_FEEDBACK_TYPE = re.compile(rb"(?i)feedback-type")
_ANGLE = re.compile(r"<([^<>]{1,2000})>")


@dataclass(frozen=True)
class Complaint:
    """A parsed feedback report.

    Attributes:
        feedback_type: lower-case ``abuse``, ``fraud``... ``""`` when missing.
        version: the ``Version`` field as given, or None.
        user_agent: the reporting software, or ``""``.
        original_rcpt_to: the ``Original-Rcpt-To`` addresses that are not redacted.
        redacted: True when an ``Original-Rcpt-To`` was present but redacted.
        list_unsubscribe: the URIs of the returned original's ``List-Unsubscribe``.
        original_message_id: the returned original's Message-ID, or ``""``.
        has_original: whether any part of the original message came back.
        source_ip: the ``Source-IP`` field (RFC 5965 §3.2), the IP the mail came from, or ``""``.
        layout: ``arf``, ``hotmail`` (the old JMRP layout: only the original, with
            ``X-HmXmrOriginalRecipient``) or ``ses`` (an Amazon SES notification by mail).
    """

    feedback_type: str
    version: str | None
    user_agent: str
    original_rcpt_to: tuple[str, ...]
    redacted: bool
    list_unsubscribe: tuple[str, ...]
    original_message_id: str
    has_original: bool
    source_ip: str = ""
    layout: str = "arf"

    @property
    def is_complaint(self) -> bool:
        """True when the report says the recipient did not want the mail."""
        return self.feedback_type in COMPLAINT_TYPES


def _report_fields(message: InboundMessage) -> list[tuple[str, str]] | None:
    for part in message.parts():
        if part.returned:
            continue
        if part.content_type == "message/feedback-report":
            return [field for block in field_blocks_of(part.message) for field in block]
    # Lenient: a text part that is the report in all but its label.
    if not _FEEDBACK_TYPE.search(message.raw):
        return None
    for part in message.parts():
        if part.returned or part.message.is_multipart():
            continue
        if part.depth == 0 and message.content_type != "multipart/report":
            continue
        fields = parse_fields(payload_text(part.message)[:20000])
        if any(name.lower() == "feedback-type" for name, _ in fields):
            return fields
    return None


def _original_headers(message: InboundMessage) -> list[tuple[str, str]] | None:
    for part in message.parts():
        if part.content_type == "message/rfc822" and not part.returned:
            return header_fields(part.message)
    for part in message.parts():
        if part.returned:
            continue
        if part.content_type in ("text/rfc822-headers", "text/rfc822"):
            return parse_fields(payload_text(part.message).split("\n\n", 1)[0])
    return None


def unsubscribe_uris(value: str) -> list[str]:
    """The ``<...>`` URIs of a List-Unsubscribe value (RFC 2369 §2)."""
    return [uri.strip() for uri in _ANGLE.findall(value)]


def _hotmail(message: InboundMessage) -> Complaint | None:
    """The old Hotmail/Outlook.com JMRP layout: multipart/mixed holding only the original.

    The complaining recipient is in the returned original's ``X-HmXmrOriginalRecipient``.
    """
    if message.content_type == "multipart/report":
        return None
    for part in message.parts():
        senders = f"{message.header('From')} {message.header('Return-Path')}".lower()
        if part.depth == 0 and "staff@hotmail.com" in senders:
            fields = [(k, v) for k in ("X-HmXmrOriginalRecipient",) for v in message.headers(k)]
            if not fields:
                continue  # a forwarder flattened the report: the original's headers lead
        elif part.content_type != "message/rfc822" or part.depth > 2:
            continue
        else:
            fields = header_fields(part.message)
        names = {name.lower(): value for name, value in fields}
        if "x-hmxmroriginalrecipient" not in names:
            return None
        found = _ADDRESS.search(names["x-hmxmroriginalrecipient"])
        unsub = [
            u for n, v in fields if n.lower() == "list-unsubscribe" for u in unsubscribe_uris(v)
        ]
        return Complaint(
            feedback_type="abuse",
            version=None,
            user_agent="hotmail-jmrp",
            original_rcpt_to=(found[0],) if found else (),
            redacted=found is None,
            list_unsubscribe=tuple(unsub),
            original_message_id=names.get("message-id", "").strip(),
            has_original=True,
            source_ip=_ip_in(names.get("x-reporter-ip", "")),
            layout="hotmail",
        )
    return None


_IP = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]{3,39}:[0-9A-Fa-f]{1,4}")


def _ip_in(value: str) -> str:
    found = _IP.search(value)
    return found[0] if found else ""


def _ses(message: InboundMessage) -> Complaint | None:
    """An Amazon SES complaint notification delivered by mail (JSON in the text)."""
    from prefcenter.inbound.kinds import ses_notification

    notice = ses_notification(message)
    if notice is None or notice.get("notificationType") != "Complaint":
        return None
    complaint = notice.get("complaint")
    complaint = complaint if isinstance(complaint, dict) else {}
    rcpts = tuple(
        entry["emailAddress"]
        for entry in complaint.get("complainedRecipients") or []
        if isinstance(entry, dict) and isinstance(entry.get("emailAddress"), str)
    )
    mail = notice.get("mail")
    mail = mail if isinstance(mail, dict) else {}
    return Complaint(
        feedback_type=str(complaint.get("complaintFeedbackType") or "abuse").lower(),
        version=None,
        user_agent=str(complaint.get("userAgent") or "amazon-ses"),
        original_rcpt_to=rcpts,
        redacted=False,
        list_unsubscribe=(),
        original_message_id="",
        has_original=False,
        source_ip=str(mail.get("sourceIp") or ""),
        layout="ses",
    )


def parse_complaint(message: InboundMessage) -> Complaint | None:
    """Read a feedback report; None when the message is not one.

    Recognised by ``report-type=feedback-report`` or by any report part with a
    ``Feedback-Type`` field, whatever its ``Version`` says; also the old Hotmail layout
    and Amazon SES complaint notifications sent by mail.
    """
    is_report = message.param("report-type") == "feedback-report"
    fields = _report_fields(message)
    if fields is None:
        if not is_report:
            return _hotmail(message) or _ses(message)
        fields = []
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name.lower(), []).append(value.strip())
    rcpts: list[str] = []
    redacted = False
    for value in values.get("original-rcpt-to", []):
        found = _ADDRESS.search(value)
        if found is None or _REDACTED.search(found[0]) or _REDACTED.search(value):
            redacted = True
            continue
        rcpts.append(found[0])
    original = _original_headers(message)
    list_unsub: list[str] = []
    original_id = ""
    for name, value in original or []:
        lowered = name.lower()
        if lowered == "list-unsubscribe":
            list_unsub.extend(unsubscribe_uris(value))
        elif lowered == "message-id" and not original_id:
            original_id = value.strip()
    return Complaint(
        feedback_type=(values.get("feedback-type") or [""])[0].lower(),
        version=values["version"][0] if values.get("version") else None,
        user_agent=(values.get("user-agent") or [""])[0],
        original_rcpt_to=tuple(rcpts),
        redacted=redacted,
        list_unsubscribe=tuple(list_unsub),
        original_message_id=original_id,
        has_original=original is not None,
        source_ip=_ip_in((values.get("source-ip") or [""])[0]),
    )
