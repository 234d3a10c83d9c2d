"""What each provider's suppression export means: which list a row is on, its date, why.

Every row becomes an :class:`Entry` (or the reason it cannot be used): the address, the
kind of list (``bounce``, ``block``, ``spam``, ``unsubscribe``, ``group``), the date the
provider recorded (kept as the change's ``requested_at``), the provider's reason, and for
group unsubscribes the group (a topic here). The columns each format reads are listed in
docs/import-export.md, with where each provider's export comes from.
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from prefcenter.esp.records import Record

FORMATS = ("sendgrid", "ses", "postmark", "mailgun", "csv")
KINDS = ("bounce", "block", "spam", "unsubscribe", "group")
#: Kinds that stop all mail to the address (a hard suppression).
HARD_KINDS = frozenset({"bounce", "block", "spam"})


class Entry(NamedTuple):
    """One usable row: what to suppress, when it was recorded, and why (a tuple: an
    import makes one per row)."""

    address: str
    kind: str
    at: datetime | None
    reason: str
    topic: str | None = None
    #: The date as the file wrote it: part of the evidence, so a re-import is a no-op.
    date_text: str = ""


class Reject(Exception):
    """A row that cannot be imported; the message says why."""


def kind_from_name(path: str) -> str | None:
    """The list a file name suggests (``sendgrid_bounces.csv`` -> ``bounce``), if any."""
    name = os.path.basename(path).lower()
    for hint, kind in (
        ("group", "group"), ("asm", "group"), ("block", "block"), ("bounce", "bounce"),
        ("spam", "spam"), ("complaint", "spam"), ("unsub", "unsubscribe"),
        ("global", "unsubscribe"),
    ):  # fmt: skip
        if hint in name:
            return kind
    return None


def parse_date(text: str) -> datetime | None:
    """A provider's date: Unix seconds, ISO 8601, ``YYYY-MM-DD HH:MM:SS`` (UTC) or RFC 2822.

    Raises:
        Reject: the text is none of these.
    """
    text = text.strip()
    if not text:
        return None
    try:
        if text.replace(".", "", 1).isdigit():
            seconds = float(text)
            if seconds > 1e11:  # milliseconds
                seconds /= 1000
            return datetime.fromtimestamp(seconds, UTC)
        if text[:4].isdigit():
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            moment = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, OverflowError, OSError):
        raise Reject(f"date {text[:40]!r} is not Unix time, ISO 8601 or RFC 2822") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _first(fields: dict[str, str], *names: str) -> str:
    for name in names:
        value = fields.get(name)
        if value:
            return value.strip()
    return ""


def _joined(first: str, second: str) -> str:
    """``first second`` without a blank side."""
    return f"{first} {second}" if first and second else first or second


def _address(fields: dict[str, str], *names: str) -> str:
    address = _first(fields, *names)
    if not address:
        raise Reject(f"no address (a column {' or '.join(names)})")
    return address


_SENDGRID_LABELS = {
    "bounce": "bounce", "block": "block", "spam": "spam report",
    "unsubscribe": "global unsubscribe", "group": "group unsubscribe",
}  # fmt: skip


def _sendgrid(record: Record, kind: str | None) -> Entry:
    fields = record.fields
    # The usual column first, without a call: this runs once per row of a large list.
    address = fields.get("email") or ""
    address = address.strip() or _address(fields, "email", "email address", "recipient")
    group = _first(fields, "group_name", "group", "group_id", "asm_group_id")
    if kind is None:
        if group:
            kind = "group"
        elif "status" in fields:
            kind = "bounce"
        elif "ip" in fields:
            kind = "spam"
        else:
            kind = "unsubscribe"
    # The usual columns first, without a call each (the same answer as _first).
    created, reason, status = fields.get("created"), fields.get("reason"), fields.get("status")
    date = created.strip() if created else _first(fields, "created_at", "date")
    why = _joined(status.strip() if status else "", reason.strip() if reason else "")
    label = _SENDGRID_LABELS[kind]
    topic = None
    if kind == "group":
        if not group:
            raise Reject("a group unsubscribe without a group (group_name or group_id)")
        topic = group if not group.isdigit() else f"sendgrid-group-{group}"
    text = f"sendgrid {label}" + (f": {why}" if why else "")
    return Entry(address, kind, parse_date(date), text, topic, date)


def _ses(record: Record, kind: str | None) -> Entry:
    fields = record.fields
    address = _address(fields, "emailaddress", "email address", "email", "address")
    reason = _first(fields, "reason").upper()
    if reason not in ("BOUNCE", "COMPLAINT"):
        raise Reject(f"reason {reason[:20]!r} is neither BOUNCE nor COMPLAINT")
    found = "bounce" if reason == "BOUNCE" else "spam"
    date = _first(fields, "lastupdatetime", "last update time", "date")
    return Entry(address, kind or found, parse_date(date), f"ses {reason.lower()}", None, date)


_POSTMARK = {"hardbounce": "bounce", "spamcomplaint": "spam", "manualsuppression": "unsubscribe"}


def _postmark(record: Record, kind: str | None) -> Entry:
    fields = record.fields
    address = _address(fields, "emailaddress", "email address", "email")
    reason = _first(fields, "suppressionreason", "suppression reason", "reason")
    found = _POSTMARK.get(reason.lower().replace(" ", ""))
    if found is None and kind is None:
        raise Reject(f"SuppressionReason {reason[:30]!r} is not HardBounce, SpamComplaint "
                     "or ManualSuppression")  # fmt: skip
    origin = _first(fields, "origin")
    stream = _first(fields, "messagestream", "message stream")
    date = _first(fields, "createdat", "created at", "date")
    text = f"postmark {reason or kind}" + (f" by {origin}" if origin else "")
    text += f" on stream {stream}" if stream else ""
    return Entry(address, kind or found or "unsubscribe", parse_date(date), text, None, date)


_MAILGUN_LABELS = {
    "bounce": "bounce", "block": "bounce", "spam": "complaint",
    "unsubscribe": "unsubscribe", "group": "tag unsubscribe",
}  # fmt: skip


def _mailgun(record: Record, kind: str | None) -> Entry:
    fields = record.fields
    address = _address(fields, "address", "email")
    if kind is None:
        if "code" in fields or "error" in fields:
            kind = "bounce"
        elif "tags" in fields or "tag" in fields:
            kind = "unsubscribe"
        else:
            kind = "spam"
    date = _first(fields, "created_at", "created", "date")
    topic = None
    if kind == "unsubscribe":
        tags = [t.strip() for t in _first(fields, "tags", "tag").split(",") if t.strip()]
        named = [tag for tag in tags if tag != "*"]
        if len(named) == 1 and "*" not in tags:
            kind, topic = "group", named[0]
    why = _joined(_first(fields, "code"), _first(fields, "error"))
    label = _MAILGUN_LABELS[kind]
    text = f"mailgun {label}" + (f": {why}" if why else "")
    return Entry(address, kind, parse_date(date), text, topic, date)


_CSV_KINDS = {
    "bounce": "bounce", "hard": "bounce", "hard_bounce": "bounce", "block": "block",
    "spam": "spam", "complaint": "spam", "spam_report": "spam", "unsubscribe": "unsubscribe",
    "global": "unsubscribe", "unsubscribed": "unsubscribe", "topic": "group", "group": "group",
}  # fmt: skip


def _csv(record: Record, kind: str | None) -> Entry:
    fields = record.fields
    address = _address(fields, "address", "email", "recipient")
    topic = _first(fields, "topic", "list", "group") or None
    written = _first(fields, "kind", "type", "scope").lower()
    found = _CSV_KINDS.get(written) if written else ("group" if topic else "unsubscribe")
    if found is None and kind is None:
        raise Reject(f"kind {written[:20]!r} is not one of: {', '.join(sorted(_CSV_KINDS))}")
    kind = kind or found or "unsubscribe"
    if kind == "group" and not topic:
        raise Reject("a topic opt-out without a topic column value")
    date = _first(fields, "requested_at", "created_at", "created", "date")
    reason = _first(fields, "reason") or f"imported {kind}"
    return Entry(address, kind, parse_date(date), reason, topic if kind == "group" else None, date)


READERS: dict[str, Callable[[Record, str | None], Entry]] = {
    "sendgrid": _sendgrid,
    "ses": _ses,
    "postmark": _postmark,
    "mailgun": _mailgun,
    "csv": _csv,
}


__all__ = ["FORMATS", "HARD_KINDS", "KINDS", "READERS", "Entry", "Reject", "kind_from_name",
           "parse_date"]  # fmt: skip
