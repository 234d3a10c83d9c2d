"""The row-by-row provider mapping of the second pass, kept as the tests' reference.

Before the column-wise mapping (``prefcenter.esp.providers``), each row was mapped on
its own from a dict of its fields. That code is kept here unchanged, as the statement of
what each format means, and the property tests hold the column-wise mapping to it on
every generated table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from prefcenter.esp.providers import Reject, parse_date
from prefcenter.esp.records import Record


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
