"""Identity keys: one canonical string per person-on-a-channel, and its keyed hash.

``alice+news@Example.COM`` and ``Alice@example.com`` are one person, so both become
``email:alice@example.com``. Phone numbers become E.164 (``sms:+14155550100``).
The store never sees the key itself, only ``hash`` (keyed BLAKE2b, 16 bytes), so a
person can be erased while their opt-out keeps matching.

Canonicalisation runs on every hot path (filtering millions of recipients), so plain
ASCII addresses take a fast path that is proven, by property tests, to agree with the
full email-validator path on every input it accepts; everything else takes the full path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from prefcenter.errors import InvalidRecipient
from prefcenter.identity.bulk import fast_emails
from prefcenter.identity.email import Folding, canonical_email
from prefcenter.identity.phone import canonical_phone
from prefcenter.model import Channel, Identity

_KEY_PREFIXES = {channel.value + ":": channel for channel in Channel}
HASH_SIZE = 16


class Identities:
    """Turns what senders write into :class:`Identity` values, hashed with the store pepper.

    One instance per configuration; it holds no other state and is safe across threads.
    """

    def __init__(self, pepper: bytes, folding: Folding | None = None) -> None:
        if len(pepper) < 16:
            raise ValueError("the pepper must be at least 16 bytes")
        self._pepper = hashlib.blake2b(pepper, digest_size=32).digest()
        self.folding = folding or Folding()
        # Keyed and fed "email:" once; copying it is cheaper than keying a new hash.
        self._email_hash = hashlib.blake2b(key=self._pepper, digest_size=HASH_SIZE)
        self._email_hash.update(b"email:")

    def hash_key(self, key: str) -> bytes:
        """The 16-byte keyed hash of a canonical key."""
        return hashlib.blake2b(key.encode(), key=self._pepper, digest_size=HASH_SIZE).digest()

    def fingerprint(self) -> str:
        """Identifies pepper and folding rules without revealing the pepper."""
        check = hashlib.blake2b(b"prefcenter pepper check", key=self._pepper, digest_size=8)
        return f"{check.hexdigest()};{self.folding.describe()}"

    def canonical(self, value: str, channel: Channel | str = Channel.EMAIL) -> str:
        """The canonical ``channel:address`` key for ``value``.

        A value that already carries a channel prefix (``sms:+1...``) keeps its channel.

        Raises:
            InvalidRecipient: the value cannot be canonicalised on that channel.
        """
        channel, address = self._split(value, channel)
        if channel is Channel.EMAIL:
            return "email:" + canonical_email(address, self.folding)
        return f"{channel.value}:{canonical_phone(address)}"

    def parse(self, value: str, channel: Channel | str = Channel.EMAIL) -> Identity:
        """Canonicalise and hash ``value``.

        Raises:
            InvalidRecipient: the value cannot be canonicalised on that channel.
        """
        if channel == Channel.EMAIL and type(value) is str and ":" not in value:
            # The hot path (webhook events, one at a time): a plain address on the email
            # channel, hashed from the prepared state as parse_many does.
            address = canonical_email(value, self.folding)
            state = self._email_hash.copy()
            state.update(address.encode())
            return Identity(Channel.EMAIL, address, "email:" + address, state.digest())
        key = self.canonical(value, channel)
        prefix, _, address = key.partition(":")
        return Identity(Channel(prefix), address, key, self.hash_key(key))

    def locate(self, value: str, channel: Channel | str = Channel.EMAIL) -> tuple[Channel, bytes]:
        """The channel ``value`` is on and its identity hash, as ``parse`` gives them.

        The hot path of ``check`` and ``filter``: a plain email address (no ``channel:``
        prefix, so on the channel asked for) is hashed without building an Identity.

        Raises:
            InvalidRecipient: the value cannot be canonicalised on that channel.
        """
        if channel == Channel.EMAIL and type(value) is str and ":" not in value:
            return Channel.EMAIL, self.hash_key("email:" + canonical_email(value, self.folding))
        identity = self.parse(value, channel)
        return identity.channel, identity.hash

    def locate_many(
        self, values: Sequence[str], channel: Channel | str = Channel.EMAIL
    ) -> list[bytes | None]:
        """``locate(value, channel)[1]`` for each value, None where it raises; in bulk.

        The hot path of ``filter``: plain email addresses are canonicalised a chunk at a
        time (:mod:`prefcenter.identity.bulk`) and hashed from one prepared state.
        """
        if channel != Channel.EMAIL:
            return [self._try_locate(value, channel) for value in values]
        canonical = fast_emails(values, self.folding)
        plain = [key for key in canonical if key is not None]
        found: list[bytes | None] = list(self._hash_plain(plain))
        if len(plain) == len(values):
            return found
        digests = iter(found)  # the rest take the full path, one by one
        return [
            next(digests) if key is not None else self._try_locate(value, channel)
            for value, key in zip(values, canonical, strict=True)
        ]

    def _hash_plain(self, canonical: list[str]) -> list[bytes]:
        """The hash of each canonical plain address: the chunk encoded at once, each
        hashed from the prepared keyed state in a tight loop."""
        hashes: list[bytes] = []
        append = hashes.append
        copy = self._email_hash.copy
        for data in "\n".join(canonical).encode().split(b"\n") if canonical else ():
            state = copy()
            state.update(data)
            append(state.digest())
        return hashes

    def parse_many(self, values: Sequence[str]) -> list[Identity | None]:
        """``parse(value)`` for each email address, None where it raises; in bulk (the
        canonicalising and hashing of :meth:`locate_many`), for imports."""
        canonical = fast_emails(values, self.folding)
        found: list[Identity | None] = []
        copy = self._email_hash.copy
        for value, address in zip(values, canonical, strict=True):
            if address is None:
                try:
                    found.append(self.parse(value))
                except InvalidRecipient:
                    found.append(None)
                continue
            state = copy()
            state.update(address.encode())
            found.append(Identity(Channel.EMAIL, address, "email:" + address, state.digest()))
        return found

    def parse_columns(
        self, values: Sequence[str]
    ) -> tuple[list[bytes | None], list[str], list[str]]:
        """``parse_many`` as three columns: each value's hash (None where ``parse``
        raises), channel (its value, such as ``"email"``) and canonical address; no
        object per value, for imports of a million rows."""
        canonical = fast_emails(values, self.folding)
        plain = [key for key in canonical if key is not None]
        hashes: list[bytes | None] = list(self._hash_plain(plain))
        if len(plain) == len(values):
            return hashes, ["email"] * len(values), plain
        digests = iter(hashes)
        found: list[bytes | None] = []
        channels: list[str] = []
        addresses: list[str] = []
        for value, key in zip(values, canonical, strict=True):
            if key is not None:
                found.append(next(digests))
                channels.append("email")
                addresses.append(key)
                continue
            try:
                identity = self.parse(value)
            except InvalidRecipient:
                found.append(None)
                channels.append("")
                addresses.append("")
                continue
            found.append(identity.hash)
            channels.append(identity.channel.value)
            addresses.append(identity.address)
        return found, channels, addresses

    def _try_locate(self, value: str, channel: Channel | str) -> bytes | None:
        try:
            return self.locate(value, channel)[1]
        except InvalidRecipient:
            return None

    def _split(self, value: str, channel: Channel | str) -> tuple[Channel, str]:
        if not isinstance(value, str):
            raise InvalidRecipient(
                f"Recipient {value!r} is not usable: it is not a string; pass the address as text.",
                value=value,
                reason="not a string",
            )
        head = value[:6].lower()
        for prefix, prefixed in _KEY_PREFIXES.items():
            if head.startswith(prefix):
                return prefixed, value[len(prefix) :]
        try:
            return Channel(channel), value
        except ValueError:
            raise InvalidRecipient(
                f"Channel {channel!r} does not exist; use email, sms or voice.",
                value=channel,
                reason="unknown channel",
            ) from None
