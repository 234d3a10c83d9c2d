"""What each provider's suppression export means: which list a row is on, its date, why.

Each row of a :class:`~prefcenter.esp.records.Table` gives (or the reason it cannot be
used): the address, the kind of list (``bounce``, ``block``, ``spam``, ``unsubscribe``,
``group``), the date the provider recorded (kept as the change's ``requested_at``), the
provider's reason, and for group unsubscribes the group (a topic here). The columns each
format reads are listed in docs/import-export.md, with where each provider's export
comes from.

A chunk is mapped column by column (:class:`Mapped`): which columns a format reads is
resolved once per header, and each value is one list comprehension over the chunk's
rows, so an export of a million rows makes no object per row but the strings it keeps.
A field read from several columns takes the first column whose value is not empty
(then stripped), as a provider's alternative spellings of one column.
"""

from __future__ import annotations

import email.utils
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from prefcenter.esp.records import Table

FORMATS = ("sendgrid", "ses", "postmark", "mailgun", "csv")
KINDS = ("bounce", "block", "spam", "unsubscribe", "group")
#: Kinds that stop all mail to the address (a hard suppression).
HARD_KINDS = frozenset({"bounce", "block", "spam"})


class Mapped(NamedTuple):
    """A chunk's rows as columns (one item per row), and the rows that cannot be used."""

    addresses: list[str]
    kinds: list[str]
    #: Each date as the file wrote it (stripped): part of the evidence, so a re-import
    #: is a no-op; parsed by :func:`parse_date`.
    dates: list[str]
    reasons: list[str]
    #: The group of a group unsubscribe (a topic here), else ``""``.
    topics: list[str]
    #: Row index -> why it is left out (the first reason found).
    rejects: dict[int, str]


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


class Columns:
    """A table's columns, found by name once."""

    def __init__(self, table: Table) -> None:
        self.rows = table.rows
        self.count = len(table.rows)
        # A name given twice reads its last column, as a dict of the row would.
        self._index = {name: index for index, name in enumerate(table.names)}

    def has(self, *names: str) -> bool:
        return any(name in self._index for name in names)

    def first(self, *names: str) -> list[str]:
        """Each row's first non-empty value of the columns ``names``, stripped."""
        found = [self._index[name] for name in names if name in self._index]
        rows = self.rows
        if not found:
            return [""] * self.count
        if len(found) == 1:
            (one,) = found
            return [row[one].strip() for row in rows]
        if len(found) == 2:
            one, two = found
            return [(row[one] or row[two]).strip() for row in rows]
        return [next((row[i] for i in found if row[i]), "").strip() for row in rows]


def _joined(first: Sequence[str], second: Sequence[str]) -> list[str]:
    """``first second`` of each row, without a blank side."""
    return [f"{a} {b}" if a and b else a or b for a, b in zip(first, second, strict=True)]


def _need_address(addresses: list[str], rejects: dict[int, str], *names: str) -> None:
    why = f"no address (a column {' or '.join(names)})"
    for index, address in enumerate(addresses):
        if not address:
            rejects.setdefault(index, why)


def _address(columns: Columns, rejects: dict[int, str], *names: str) -> list[str]:
    addresses = columns.first(*names)
    if not all(addresses):
        _need_address(addresses, rejects, *names)
    return addresses


_SENDGRID_LABELS = {
    "bounce": "bounce", "block": "block", "spam": "spam report",
    "unsubscribe": "global unsubscribe", "group": "group unsubscribe",
}  # fmt: skip
_SENDGRID_GROUPS = ("group_name", "group", "group_id", "asm_group_id")


def _sendgrid(columns: Columns, kind: str | None) -> Mapped:
    rejects: dict[int, str] = {}
    count = columns.count
    addresses = _address(columns, rejects, "email", "email address", "recipient")
    groups = columns.first(*_SENDGRID_GROUPS)
    if kind is None:
        usual = (
            "bounce" if columns.has("status") else "spam" if columns.has("ip") else "unsubscribe"
        )
        kinds = [("group" if group else usual) for group in groups]
    else:
        kinds = [kind] * count
    dates = columns.first("created", "created_at", "date")
    whys = _joined(columns.first("status"), columns.first("reason"))
    labels = _SENDGRID_LABELS
    reasons = [
        f"sendgrid {labels[which]}: {why}" if why else f"sendgrid {labels[which]}"
        for which, why in zip(kinds, whys, strict=True)
    ]
    topics = [""] * count
    if "group" in kinds:
        for index, (which, group) in enumerate(zip(kinds, groups, strict=True)):
            if which != "group":
                continue
            if not group:
                rejects.setdefault(
                    index, "a group unsubscribe without a group (group_name or group_id)"
                )
            else:
                topics[index] = group if not group.isdigit() else f"sendgrid-group-{group}"
    return Mapped(addresses, kinds, dates, reasons, topics, rejects)


def _ses(columns: Columns, kind: str | None) -> Mapped:
    rejects: dict[int, str] = {}
    addresses = _address(columns, rejects, "emailaddress", "email address", "email", "address")
    written = [reason.upper() for reason in columns.first("reason")]
    kinds: list[str] = []
    for index, reason in enumerate(written):
        if reason == "BOUNCE":
            kinds.append(kind or "bounce")
        elif reason == "COMPLAINT":
            kinds.append(kind or "spam")
        else:
            kinds.append(kind or "bounce")
            rejects.setdefault(index, f"reason {reason[:20]!r} is neither BOUNCE nor COMPLAINT")
    dates = columns.first("lastupdatetime", "last update time", "date")
    reasons = [f"ses {reason.lower()}" for reason in written]
    return Mapped(addresses, kinds, dates, reasons, [""] * columns.count, rejects)


_POSTMARK = {"hardbounce": "bounce", "spamcomplaint": "spam", "manualsuppression": "unsubscribe"}


def _postmark(columns: Columns, kind: str | None) -> Mapped:
    rejects: dict[int, str] = {}
    addresses = _address(columns, rejects, "emailaddress", "email address", "email")
    written = columns.first("suppressionreason", "suppression reason", "reason")
    kinds: list[str] = []
    for index, reason in enumerate(written):
        found = _POSTMARK.get(reason.lower().replace(" ", ""))
        if found is None and kind is None:
            rejects.setdefault(index, f"SuppressionReason {reason[:30]!r} is not HardBounce, "
                               "SpamComplaint or ManualSuppression")  # fmt: skip
        kinds.append(kind or found or "unsubscribe")
    origins = columns.first("origin")
    streams = columns.first("messagestream", "message stream")
    reasons = [
        f"postmark {reason or kind}"
        + (f" by {origin}" if origin else "")
        + (f" on stream {stream}" if stream else "")
        for reason, origin, stream in zip(written, origins, streams, strict=True)
    ]
    dates = columns.first("createdat", "created at", "date")
    return Mapped(addresses, kinds, dates, reasons, [""] * columns.count, rejects)


_MAILGUN_LABELS = {
    "bounce": "bounce", "block": "bounce", "spam": "complaint",
    "unsubscribe": "unsubscribe", "group": "tag unsubscribe",
}  # fmt: skip


def _mailgun(columns: Columns, kind: str | None) -> Mapped:
    rejects: dict[int, str] = {}
    count = columns.count
    addresses = _address(columns, rejects, "address", "email")
    if kind is None:
        if columns.has("code", "error"):
            kind = "bounce"
        elif columns.has("tags", "tag"):
            kind = "unsubscribe"
        else:
            kind = "spam"
    kinds = [kind] * count
    topics = [""] * count
    if kind == "unsubscribe":
        for index, text in enumerate(columns.first("tags", "tag")):
            tags = [tag.strip() for tag in text.split(",") if tag.strip()]
            named = [tag for tag in tags if tag != "*"]
            if len(named) == 1 and "*" not in tags:
                kinds[index], topics[index] = "group", named[0]
    whys = _joined(columns.first("code"), columns.first("error"))
    labels = _MAILGUN_LABELS
    reasons = [
        f"mailgun {labels[which]}: {why}" if why else f"mailgun {labels[which]}"
        for which, why in zip(kinds, whys, strict=True)
    ]
    dates = columns.first("created_at", "created", "date")
    return Mapped(addresses, kinds, dates, reasons, topics, rejects)


_CSV_KINDS = {
    "bounce": "bounce", "hard": "bounce", "hard_bounce": "bounce", "block": "block",
    "spam": "spam", "complaint": "spam", "spam_report": "spam", "unsubscribe": "unsubscribe",
    "global": "unsubscribe", "unsubscribed": "unsubscribe", "topic": "group", "group": "group",
}  # fmt: skip


def _csv(columns: Columns, kind: str | None) -> Mapped:
    rejects: dict[int, str] = {}
    addresses = _address(columns, rejects, "address", "email", "recipient")
    topics = columns.first("topic", "list", "group")
    written = [text.lower() for text in columns.first("kind", "type", "scope")]
    kinds: list[str] = []
    for index, (text, topic) in enumerate(zip(written, topics, strict=True)):
        found = _CSV_KINDS.get(text) if text else ("group" if topic else "unsubscribe")
        if found is None and kind is None:
            rejects.setdefault(
                index, f"kind {text[:20]!r} is not one of: {', '.join(sorted(_CSV_KINDS))}"
            )
        which = kind or found or "unsubscribe"
        if which == "group" and not topic:
            rejects.setdefault(index, "a topic opt-out without a topic column value")
        kinds.append(which)
    topics = [topic if which == "group" else "" for which, topic in zip(kinds, topics, strict=True)]
    reasons = [
        reason or f"imported {which}"
        for reason, which in zip(columns.first("reason"), kinds, strict=True)
    ]
    dates = columns.first("requested_at", "created_at", "created", "date")
    return Mapped(addresses, kinds, dates, reasons, topics, rejects)


#: Each format's mapping of a chunk, given the list the file holds (None: from its rows).
MAPPERS: dict[str, Callable[[Columns, str | None], Mapped]] = {
    "sendgrid": _sendgrid,
    "ses": _ses,
    "postmark": _postmark,
    "mailgun": _mailgun,
    "csv": _csv,
}


__all__ = ["FORMATS", "HARD_KINDS", "KINDS", "MAPPERS", "Columns", "Mapped", "Reject",
           "kind_from_name", "parse_date"]  # fmt: skip
