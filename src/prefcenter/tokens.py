"""Signed tokens for unsubscribe links, mailto addresses and VERP return paths.

A token is 31 bytes, encoded two ways::

    byte 0       version (2 bits) | channel (2 bits) | purpose (4 bits)
    bytes 1-16   identity hash (keyed BLAKE2b of the canonical key; never the address)
    bytes 17-20  topic digest (4 bytes; zero = no topic, all marketing)
    bytes 21-30  MAC: keyed BLAKE2b-80 over bytes 0-20

- URL form: unpadded base64url, 42 characters (``/u/{token}``, ``/p/{token}``).
- Mail form: unpadded lower-case base32, 50 characters, so ``unsubscribe+{token}``
  is 62 octets, inside RFC 5321's 64-octet local part, and survives mail systems
  that change the case of addresses.

One MAC serves both forms, so a header set costs one MAC. Keys are derived from the
configured secrets with itsdangerous's key derivation; the list runs oldest to newest,
the newest signs and every key verifies (rotation). Decoding is strict: a token is
accepted only in its canonical spelling, so spare bits in the last character cannot
make two different strings of one token. Tokens do not expire: CAN-SPAM wants an
opt-out to work at least 30 days after the send and people unsubscribe from old mail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from itsdangerous import Signer

from prefcenter.errors import TokenMalformed, TokenSignatureInvalid, TokenWrongPurpose
from prefcenter.model import Channel, Identity
from prefcenter.topics import NO_TOPIC, TOPIC_DIGEST_SIZE, topic_digest

VERSION = 1
MAC_SIZE = 10
_BODY_SIZE = 1 + 16 + TOPIC_DIGEST_SIZE
TOKEN_SIZE = _BODY_SIZE + MAC_SIZE
URL_TOKEN_LENGTH = 42
MAIL_TOKEN_LENGTH = 50
_KEY_SALT = b"prefcenter.token.v1"
_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.VOICE)
_CHANNEL_INDEX = {channel: index for index, channel in enumerate(_CHANNELS)}
# Topic digests are cached per signer; the bound keeps hostile topic names from growing it.
_TOPIC_CACHE_SIZE = 4096


class Purpose(IntEnum):
    """What a token may be used for; a token for one purpose is refused for another."""

    UNSUBSCRIBE = 1
    PREFERENCES = 2
    BOUNCE = 3


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says.

    Attributes:
        identity_hash: the 16-byte identity hash.
        channel: the identity's channel.
        topic_digest: 4 bytes naming the topic; :data:`NO_TOPIC` for all marketing.
        purpose: what the token was signed for.
    """

    identity_hash: bytes
    channel: Channel
    topic_digest: bytes
    purpose: Purpose

    @property
    def has_topic(self) -> bool:
        """False when the token is about all marketing rather than one topic."""
        return self.topic_digest != NO_TOPIC


# Base32 by bit spreading: moving each 5-bit group of the 250-bit number into its own
# byte with six mask-and-shift steps on one integer, then one translate, is about four
# times faster than base64.b32encode, which loops in Python on 3.11.
_B32_ALPHABET = b"abcdefghijklmnopqrstuvwxyz234567"
_B32_TRANSLATE = bytes.maketrans(bytes(range(32)), _B32_ALPHABET)


def _lane_masks(width: int, lanes: int, stride: int) -> int:
    return sum(((1 << width) - 1) << (stride * lane) for lane in range(lanes))


_LOW_160 = (1 << 160) - 1
_SPREAD_STEPS = tuple(
    (_lane_masks(width, lanes, stride), _lane_masks(width, lanes, stride) << width, shift)
    for width, lanes, stride, shift in (
        (80, 2, 256, 48),
        (40, 4, 128, 24),
        (20, 8, 64, 12),
        (10, 16, 32, 6),
        (5, 32, 16, 3),
    )
)


def _b32_encode(data: bytes) -> str:
    # 31 bytes are 248 bits; two zero bits make 50 groups of five, padded to 64 lanes.
    spread = int.from_bytes(data, "big") << 2
    spread = (spread & _LOW_160) | ((spread >> 160) << 256)
    for low, high, shift in _SPREAD_STEPS:
        spread = (spread & low) | ((spread & high) << shift)
    return spread.to_bytes(64, "big")[14:].translate(_B32_TRANSLATE).decode("ascii")


def _b32_decode(text: str) -> bytes:
    return base64.b32decode(text.upper() + "======")


# base64url through binascii and a byte table: base64.urlsafe_* translate in Python
# wrappers around the same calls, which doubled the cost of checking a one-click token.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64_encode(data: bytes) -> str:
    encoded = binascii.b2a_base64(data, newline=False)[:URL_TOKEN_LENGTH]
    return encoded.translate(_TO_URLSAFE).decode("ascii")


def _b64_decode(text: str) -> bytes:
    # Non-ASCII text raises UnicodeEncodeError, a ValueError, as the base64 module does.
    return binascii.a2b_base64(text.encode("ascii").translate(_FROM_URLSAFE) + b"==")


_PURPOSES = {int(purpose): purpose for purpose in Purpose}


class TokenSigner:
    """Signs and verifies tokens with a rotation list of secrets.

    Args:
        keys: secrets, oldest first. The last one signs; every one verifies.

    Raises:
        ValueError: no key was given.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("TokenSigner needs at least one key; set PREFCENTER_SECRET")
        derived = [
            Signer(
                key, salt=_KEY_SALT, key_derivation="hmac", digest_method=hashlib.sha256
            ).derive_key()
            for key in keys
        ]
        # Keyed BLAKE2b states are prepared once and copied per token: the key block is
        # then hashed once per process, not once per recipient. The newest key signs and
        # is tried first; older ones only verify.
        newest, *older = (
            hashlib.blake2b(key=key, digest_size=MAC_SIZE) for key in reversed(derived)
        )
        self._signing_mac, self._older_macs = newest, tuple(older)
        self._headers = {
            (channel, purpose): bytes(((VERSION << 6) | (index << 4) | int(purpose),))
            for channel, index in _CHANNEL_INDEX.items()
            for purpose in Purpose
        }
        self._topics: dict[str | None, bytes] = {}

    def _topic(self, topic: str | None) -> bytes:
        digest = self._topics.get(topic)
        if digest is None:
            if len(self._topics) >= _TOPIC_CACHE_SIZE:
                self._topics.clear()
            digest = self._topics[topic] = topic_digest(topic)
        return digest

    @staticmethod
    def _mac(prepared: Any, body: bytes) -> bytes:
        state = prepared.copy()
        state.update(body)
        mac: bytes = state.digest()
        return mac

    def sign_bytes(
        self, identity_hash: bytes, channel: Channel, topic: bytes, purpose: Purpose
    ) -> bytes:
        """The raw 31-byte token for the given fields."""
        body = self._headers[channel, purpose] + identity_hash + topic
        return body + self._mac(self._signing_mac, body)

    def sign(self, identity: Identity, topic: str | None, purpose: Purpose) -> str:
        """A URL token (42 characters of base64url)."""
        raw = self.sign_bytes(identity.hash, identity.channel, self._topic(topic), purpose)
        return _b64_encode(raw)

    def sign_mailto(self, identity: Identity, topic: str | None, purpose: Purpose) -> str:
        """A mail token (50 lower-case base32 characters) for ``unsubscribe+TOKEN@``."""
        raw = self.sign_bytes(identity.hash, identity.channel, self._topic(topic), purpose)
        return _b32_encode(raw)

    def sign_both(self, identity: Identity, topic: str | None, purpose: Purpose) -> tuple[str, str]:
        """The URL and mail forms of one token, for the price of one MAC."""
        raw = self.sign_bytes(identity.hash, identity.channel, self._topic(topic), purpose)
        return _b64_encode(raw), _b32_encode(raw)

    def verify(self, token: str, purpose: Purpose) -> Claims:
        """Check a token in either form and return what it says.

        Raises:
            TokenMalformed: not a token (alphabet, length, version, non-canonical spelling).
            TokenSignatureInvalid: tampered or signed with a key not configured.
            TokenWrongPurpose: genuine, but signed for another purpose.
        """
        raw = decode_token(token)
        body, mac = raw[:_BODY_SIZE], raw[_BODY_SIZE:]
        # Most tokens are signed with the newest key: the older ones are tried only then.
        if not hmac.compare_digest(self._mac(self._signing_mac, body), mac) and not any(
            hmac.compare_digest(self._mac(key, body), mac) for key in self._older_macs
        ):
            raise TokenSignatureInvalid(
                "Token signature does not match: the link was altered or signed with a key "
                "that is no longer configured; ask the person to use a link from a newer message.",
                reason="signature",
            )
        header = body[0]
        channel_index = (header >> 4) & 0b11
        if header >> 6 != VERSION or channel_index >= len(_CHANNELS):
            raise TokenMalformed(
                "Token has an unknown version; it was not made by prefcenter.", reason="version"
            )
        signed_for = _PURPOSES.get(header & 0x0F)
        if signed_for is None:
            raise TokenMalformed(
                "Token has an unknown purpose; it was not made by prefcenter.", reason="purpose"
            )
        if signed_for is not purpose:
            raise TokenWrongPurpose(
                f"Token was made for {signed_for.name.lower()}, not {purpose.name.lower()}; "
                "use the link meant for this page.",
                reason="purpose",
            )
        return Claims(body[1:17], _CHANNELS[channel_index], body[17:_BODY_SIZE], signed_for)


def decode_token(token: str) -> bytes:
    """The raw bytes of a token in its canonical spelling, without checking the signature.

    Raises:
        TokenMalformed: wrong length, alphabet or a non-canonical spelling.
    """
    if not isinstance(token, str):
        raise TokenMalformed(
            "Token is not text; pass the token string from the link.", reason="type"
        )
    try:
        if len(token) == URL_TOKEN_LENGTH:
            raw = _b64_decode(token)
            canonical = _b64_encode(raw) if len(raw) == TOKEN_SIZE else ""
            ok = canonical == token
        elif len(token) == MAIL_TOKEN_LENGTH:
            raw = _b32_decode(token)
            ok = len(raw) == TOKEN_SIZE and _b32_encode(raw) == token.lower()
        else:
            raise TokenMalformed(
                f"Token has {len(token)} characters, expected {URL_TOKEN_LENGTH} or "
                f"{MAIL_TOKEN_LENGTH}; the link may have been cut, copy it whole.",
                reason="length",
            )
    except (binascii.Error, ValueError) as error:
        if isinstance(error, TokenMalformed):
            raise
        raise TokenMalformed(
            "Token has characters outside its alphabet; copy the link whole.", reason="alphabet"
        ) from None
    if not ok:
        raise TokenMalformed(
            "Token is not in its canonical spelling; copy the link whole.", reason="canonical"
        )
    return raw
