"""How values are written into the database: small integer codes and millisecond times.

Codes keep a suppression row near 40 bytes (SQLite stores 0 and 1 in no bytes at all).
They are part of the on-disk format: never renumber one, only add.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefcenter.errors import InvalidInput
from prefcenter.model import Channel, Kind, Scope, Source
from prefcenter.topics import NO_TOPIC

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

SCOPE_CODE = {Scope.HARD: 0, Scope.GLOBAL: 1, Scope.TOPIC: 2}
CHANNEL_CODE = {Channel.EMAIL: 0, Channel.SMS: 1, Channel.VOICE: 2}
KIND_CODE = {Kind.MARKETING: 0, Kind.TRANSACTIONAL: 1}
SOURCE_CODE = {
    Source.ONE_CLICK: 1,
    Source.MAILTO: 2,
    Source.WEB: 3,
    Source.API: 4,
    Source.CLI: 5,
    Source.BOUNCE: 6,
    Source.COMPLAINT: 7,
    Source.IMPORT: 8,
    Source.LIBRARY: 9,
    Source.WEBHOOK: 10,
    Source.CONSOLE: 11,
}
SCOPES = {code: value for value, code in SCOPE_CODE.items()}
CHANNELS = {code: value for value, code in CHANNEL_CODE.items()}
KINDS = {code: value for value, code in KIND_CODE.items()}
SOURCES = {code: value for value, code in SOURCE_CODE.items()}


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; ``moment`` must be timezone-aware."""
    if moment.tzinfo is None:
        raise InvalidInput(
            f"Time {moment.isoformat()} has no timezone; pass an aware UTC datetime.",
            value=moment,
            reason="naive",
        )
    return (moment - EPOCH) // _MS


def from_ms(value: int) -> datetime:
    """The UTC datetime of a millisecond timestamp."""
    return EPOCH + value * _MS


def topic_key(digest: bytes) -> bytes:
    """The stored form of a topic digest: empty for "no topic", so it costs no bytes."""
    return b"" if digest == NO_TOPIC else bytes(digest)


def from_topic_key(stored: bytes | None) -> bytes:
    """The 4-byte digest back from its stored form (:func:`topic_key` undone)."""
    return bytes(stored) if stored else NO_TOPIC
