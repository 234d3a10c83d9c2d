"""Email identities: the canonical form of an address, fast for plain ASCII.

``alice+news@Example.COM`` and ``Alice@example.com`` are one person, so both become
``alice@example.com``. Plain ASCII addresses take a fast path that is proven, by property
tests, to agree with the full email-validator path on every input it accepts; everything
else takes the full path.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from prefcenter.identity.text import LOOKS_LIKE_PHONE, PHONE_SEPARATORS, invalid, refuse_controls

__all__ = ["Folding", "canonical_email", "fast_email", "fold_email", "slow_email"]

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
        raise invalid(value, str(error).rstrip("."), _email_fix(value)) from None
    local = unicodedata.normalize("NFC", result.local_part.casefold())
    domain = (result.ascii_domain or result.domain).lower()
    return fold_email(local, domain, folding)


def _email_fix(value: str) -> str:
    # "+14155550100" on the default channel (email) is a phone number sent the wrong way.
    if LOOKS_LIKE_PHONE.fullmatch(PHONE_SEPARATORS.sub("", value.strip())):
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
    refuse_controls(value)
    return slow_email(stripped, folding)
