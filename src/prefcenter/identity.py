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
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from prefcenter.errors import InvalidRecipient
from prefcenter.model import Channel, Identity

# The fast path accepts only what email-validator accepts unchanged apart from case:
# ASCII dot-atom local parts of common characters, and LDH domains whose top-level
# label is letters only. Anything else (quotes, Unicode, odd characters) takes the
# full path, which decides.
_FAST_EMAIL = re.compile(
    r"[a-z0-9_'+=-]+(?:\.[a-z0-9_'+=-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.ASCII,
)
# email-validator refuses these special-use names (RFC 6761, 6762, 7686) and their
# subdomains; the fast path leaves them to it so the error message is the library's.
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_LOOKS_LIKE_PHONE = re.compile(r"\+?[0-9]+", re.ASCII)
_KEY_PREFIXES = {channel.value + ":": channel for channel in Channel}
HASH_SIZE = 16


@dataclass(frozen=True, slots=True)
class Folding:
    """Provider folding rules: which spellings of one mailbox count as the same person.

    Attributes:
        subaddress: ``user+tag@domain`` is ``user@domain`` (RFC 5233 sub-addressing).
        gmail: dots in Gmail local parts are ignored; googlemail.com is gmail.com.
    """

    subaddress: bool = True
    gmail: bool = True

    def describe(self) -> str:
        """A stable text of the rules, stored beside the pepper fingerprint."""
        return f"subaddress={int(self.subaddress)},gmail={int(self.gmail)}"


def _invalid(value: str, reason: str, fix: str) -> InvalidRecipient:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return InvalidRecipient(
        f"Recipient {shown!r} is not usable: {reason}; {fix}.", value=value, reason=reason
    )


def fast_email(value: str, folding: Folding) -> str | None:
    """Canonicalise a plain ASCII address cheaply, or return None to use the full path."""
    lowered = value.lower()
    if len(lowered) > 254 or not _FAST_EMAIL.fullmatch(lowered):
        return None
    local, _, domain = lowered.rpartition("@")
    if len(local) > 64 or "--" in domain or len(domain) > 253:
        return None
    if domain.rpartition(".")[2] in _SPECIAL_USE_TLDS:
        return None
    if "+" not in local and domain not in _GMAIL_DOMAINS:
        return lowered  # the common case: nothing to fold
    return fold_email(local, domain, folding)


def slow_email(value: str, folding: Folding) -> str:
    """Canonicalise any address with email-validator (syntax and IDNA, never DNS).

    Raises:
        InvalidRecipient: the address is not valid; the message says why.
    """
    # Deferred: compiling its patterns costs more than most lists spend on this path.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        raise _invalid(value, str(error).rstrip("."), _email_fix(value)) from None
    local = unicodedata.normalize("NFC", result.local_part.casefold())
    domain = (result.ascii_domain or result.domain).lower()
    return fold_email(local, domain, folding)


def _email_fix(value: str) -> str:
    # "+14155550100" on the default channel (email) is a phone number sent the wrong way.
    if _LOOKS_LIKE_PHONE.fullmatch(_PHONE_SEPARATORS.sub("", value.strip())):
        return "for a phone number use channel sms or voice (--channel sms or --channel voice)"
    return "correct the address or drop it"


def fold_email(local: str, domain: str, folding: Folding) -> str:
    """``local@domain`` with the provider folding rules applied (both parts lower case)."""
    if folding.gmail and domain in _GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.replace(".", "") or local
    if folding.subaddress and "+" in local:
        base = local.split("+", 1)[0]
        # "a.+tag" would fold to "a.", which is no address; such a local part stays whole.
        if base and not base.endswith("."):
            local = base
    return f"{local}@{domain}"


def canonical_email(value: str, folding: Folding) -> str:
    """The canonical form of an email address: fast path when safe, else the full one.

    Raises:
        InvalidRecipient: the address is not valid.
    """
    stripped = value.strip()
    fast = fast_email(stripped, folding)
    if fast is not None:
        return fast
    _refuse_controls(value)
    return slow_email(stripped, folding)


def canonical_phone(value: str) -> str:
    """The E.164 form of a phone number written in international format.

    Accepts spaces, dots, dashes, slashes and brackets, and ``00`` for ``+``.

    Raises:
        InvalidRecipient: not an international number; the message says what to add.
    """
    _refuse_controls(value)
    compact = _PHONE_SEPARATORS.sub("", value.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        raise _invalid(
            value, "it has no country code", "write it in international form, e.g. +14155550100"
        )
    if not _E164.fullmatch(compact):
        raise _invalid(
            value,
            "it is not an E.164 number (+, country code, 7 to 15 digits)",
            "write it like +14155550100",
        )
    import phonenumbers  # deferred: a large module, needed only for phone identities

    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as error:
        raise _invalid(value, str(error), "write it like +14155550100") from None
    if not phonenumbers.is_possible_number(parsed):
        raise _invalid(
            value, "no such number length exists for its country code", "check the digits"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _refuse_controls(value: str) -> None:
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value.strip()):
        raise _invalid(
            value,
            "it contains a control character or line break",
            "remove it; addresses are one line of printable text",
        )


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
        time (:mod:`prefcenter.identity_bulk`) and hashed from one prepared state.
        """
        from prefcenter.identity_bulk import fast_emails  # it imports this module

        if channel != Channel.EMAIL:
            return [self._try_locate(value, channel) for value in values]
        canonical = fast_emails(values, self.folding)
        plain = [key for key in canonical if key is not None]
        # Encode the chunk at once, hash in a tight loop from the prepared state.
        found: list[bytes | None] = []
        append = found.append
        copy = self._email_hash.copy
        for data in "\n".join(plain).encode().split(b"\n") if plain else ():
            state = copy()
            state.update(data)
            append(state.digest())
        if len(plain) == len(values):
            return found
        digests = iter(found)  # the rest take the full path, one by one
        return [
            next(digests) if key is not None else self._try_locate(value, channel)
            for value, key in zip(values, canonical, strict=True)
        ]

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
