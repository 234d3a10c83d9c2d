"""Topics: the name a sender gives a list, and the 4-byte digest links and opt-outs carry.

A token has room for 4 bytes of topic, so a topic travels as a digest and the store keeps
a digest -> name registry to read it back. :data:`NO_TOPIC` (all zeros) stands for "all
marketing on the channel".
"""

from __future__ import annotations

import hashlib
import re

from prefcenter.errors import InvalidTopic

__all__ = [
    "LINE_BREAKS",
    "MAX_TOPIC_LENGTH",
    "NO_TOPIC",
    "TOPIC_DIGEST_SIZE",
    "check_topic",
    "topic_digest",
]

TOPIC_DIGEST_SIZE = 4
#: The digest meaning "no topic": all marketing on the channel (hard and global scopes).
NO_TOPIC = bytes(TOPIC_DIGEST_SIZE)
MAX_TOPIC_LENGTH = 64
# Every character that some mail or HTTP component treats as a line break or terminator.
#: Control characters, line breaks, and lone UTF-16 surrogates (text that is no character).
LINE_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")


def check_topic(topic: str | None) -> str | None:
    """Validate a topic id: 1 to 64 printable characters, or None for all marketing.

    Raises:
        InvalidTopic: empty, too long, or with control characters or unpaired surrogates.
    """
    if topic is None:
        return None
    if not isinstance(topic, str) or not topic.strip() or len(topic) > MAX_TOPIC_LENGTH:
        raise InvalidTopic(
            f"Topic {topic!r} is not usable; use 1 to {MAX_TOPIC_LENGTH} characters such "
            "as 'weekly-news'.",
            value=topic,
            reason="length",
        )
    if LINE_BREAKS.search(topic):
        raise InvalidTopic(
            f"Topic {topic[:60]!r} contains a control character or line break (or an "
            "unpaired surrogate); remove it.",
            value=topic,
            reason="control character",
        )
    return topic


def topic_digest(topic: str | None) -> bytes:
    """The 4-byte digest that stands for ``topic`` inside tokens (zero for no topic)."""
    if not topic:
        return NO_TOPIC
    digest = hashlib.blake2s(topic.encode(), digest_size=TOPIC_DIGEST_SIZE).digest()
    # Zero is reserved for "no topic"; a topic hashing to it (1 in 4 billion) shifts by one.
    return digest if digest != NO_TOPIC else b"\x00\x00\x00\x01"
