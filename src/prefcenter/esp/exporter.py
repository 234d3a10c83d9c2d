"""Write the suppressions in the form each provider's suppression import takes.

* ``sendgrid``: CSV ``email,group``: the list to upload as global unsubscribes (the group
  column names the topic of a topic opt-out, for an unsubscribe group).
* ``ses``: CSV rows ``address,BOUNCE|COMPLAINT`` without a header, the bulk import job's
  file (SES's list knows only those two reasons: a hard bounce is BOUNCE, anything else
  COMPLAINT, which stops sending as well). Topic opt-outs are left out.
* ``postmark``: one JSON request body per line, ``{"Suppressions": [{"EmailAddress":
  ...}]}`` with at most 50 addresses each, as the suppressions endpoint takes them.
* ``mailgun``: CSV ``address,tags,created_at`` for the unsubscribes import (``*`` for
  all mail, the topic for a topic opt-out; dates in RFC 2822).

Only suppressions whose clear address is known can be exported; the caller counts the
others.
"""

from __future__ import annotations

import csv
import email.utils
import io
import json
from collections.abc import Iterable, Iterator

from prefcenter.model import Scope, Source, Suppression

EXPORT_FORMATS = ("sendgrid", "ses", "postmark", "mailgun")
#: Addresses per Postmark request body.
POSTMARK_BATCH = 50
_FLUSH = 1 << 16


def _csv_chunks(rows: Iterable[list[str]], header: list[str] | None) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > _FLUSH:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def provider_lines(fmt: str, items: Iterable[Suppression]) -> Iterator[str]:
    """The text of ``fmt``'s import file for ``items`` (each with an address), in chunks."""
    if fmt == "sendgrid":
        return _csv_chunks(([s.address or "", s.topic or ""] for s in items), ["email", "group"])
    if fmt == "ses":
        return _csv_chunks(
            (
                [s.address or "", "BOUNCE" if _bounce(s) else "COMPLAINT"]
                for s in items
                if s.scope is not Scope.TOPIC
            ),
            None,
        )
    if fmt == "mailgun":
        return _csv_chunks(
            (
                [s.address or "", s.topic or "*", email.utils.format_datetime(s.created_at)]
                for s in items
            ),
            ["address", "tags", "created_at"],
        )
    if fmt == "postmark":
        return _postmark(items)
    raise ValueError(fmt)


def _bounce(item: Suppression) -> bool:
    """A hard suppression that is no complaint (an imported spam report says so)."""
    if item.scope is not Scope.HARD or item.source is Source.COMPLAINT:
        return False
    reason = item.reason.lower()
    return "spam" not in reason and "complaint" not in reason


def _postmark(items: Iterable[Suppression]) -> Iterator[str]:
    batch: list[dict[str, str]] = []
    for item in items:
        batch.append({"EmailAddress": item.address or ""})
        if len(batch) == POSTMARK_BATCH:
            yield json.dumps({"Suppressions": batch}) + "\n"
            batch = []
    if batch:
        yield json.dumps({"Suppressions": batch}) + "\n"


__all__ = ["EXPORT_FORMATS", "POSTMARK_BATCH", "provider_lines"]
