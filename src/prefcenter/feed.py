"""The change feed: every audit event, in commit order, behind an opaque cursor.

A consumer keeps the cursor of the last page it processed and asks for the events after
it; a consumer that restarts with its saved cursor resumes exactly where it stopped,
and never skips an event that committed late (``store/feed.py`` says how on
PostgreSQL). The same event payload goes out in the outgoing webhooks.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefcenter.errors import InvalidInput
from prefcenter.store.feed import FeedEvent

#: Most events one page holds.
MAX_PAGE = 1000
#: Feed positions are (transaction id, event id); the start is before every event.
START = (0, 0)
_PREFIX = "c1."


def encode_cursor(position: tuple[int, int]) -> str:
    """The opaque cursor of a feed position."""
    text = f"{position[0]}.{position[1]}".encode()
    return _PREFIX + base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, int]:
    """The feed position of a cursor (None or empty: the start).

    Raises:
        InvalidInput: the cursor was not made by this feed.
    """
    if not cursor:
        return START
    try:
        if not cursor.startswith(_PREFIX) or len(cursor) > 80:
            raise ValueError(cursor)
        body = cursor[len(_PREFIX) :]
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
        tx, _, event_id = text.partition(".")
        position = (int(tx), int(event_id))
        if min(position) < 0 or encode_cursor(position) != cursor:
            raise ValueError(cursor)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            f"Cursor {cursor[:80]!r} was not made by this feed; pass the 'cursor' of the "
            "last page you read, or none to start from the first event.",
            value=cursor[:80],
            reason="cursor",
        ) from None
    return position


def _time(moment: datetime | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds: what the store keeps)."""
    if moment is None:
        return None
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def payload(item: FeedEvent) -> dict[str, Any]:
    """One event as the feed and the webhooks send it.

    ``address`` is the clear address only when the store keeps it (null for a hash-only
    or forgotten identity, which ``identity_hash`` names). The store writes the same
    object for the feed's pages (``store/feed.py``); the tests hold the two equal.
    """
    event = item.event
    data: dict[str, Any] = {
        "id": str(event.id),
        "kind": event.action.value,
        "channel": None if event.channel is None else event.channel.value,
        "topic": event.topic,
        "scope": None if event.scope is None else event.scope.value,
        "reason": event.reason,
        "source": event.source.value,
        "time": _time(event.at),
        "requested_at": _time(event.requested_at),
        "detail": event.detail or None,
        "identity_hash": event.identity_hash or None,
        "address": item.address,
    }
    return data


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the feed.

    Attributes:
        events: the event payloads, oldest first.
        cursor: pass it back to get the events after these (unchanged when empty).
        positions: each event's own feed position (``encode_cursor`` makes it the
            cursor that resumes right after that event).
    """

    events: list[dict[str, Any]]
    cursor: str
    positions: list[tuple[int, int]]


def page(rows: list[tuple[int, int, str]], after: tuple[int, int]) -> FeedPage:
    """The page of the store's feed ``rows`` (tx, id, JSON payload) read after ``after``."""
    positions = [(int(tx), int(event_id)) for tx, event_id, _ in rows]
    last = positions[-1] if positions else after
    return FeedPage([json.loads(text) for _, _, text in rows], encode_cursor(last), positions)


def page_text(rows: list[tuple[int, int, str]], after: tuple[int, int]) -> tuple[str, str]:
    """The page as the JSON text of its events array, and its cursor (the HTTP route's
    form: no object per event is built)."""
    last = (int(rows[-1][0]), int(rows[-1][1])) if rows else after
    return "[" + ",".join(text for _, _, text in rows) + "]", encode_cursor(last)


def check_limit(limit: int) -> int:
    """``limit`` if it is a usable page size.

    Raises:
        InvalidInput: not a whole number from 1 to MAX_PAGE.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"Page size {limit!r} is not usable; ask for 1 to {MAX_PAGE} events.",
            value=limit,
            reason="limit",
        )
    return limit


__all__ = [
    "MAX_PAGE",
    "START",
    "FeedPage",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
    "page",
    "page_text",
    "payload",
]
