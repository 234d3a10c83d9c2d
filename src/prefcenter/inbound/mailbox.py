"""The sidecar's addresses: which local parts exist and what token they carry.

``unsubscribe+{token}``, ``unsubscribe``, ``bounces+{token}``, ``bounces`` and ``fbl``
at ``settings.mail_domain``; the local part is matched case-insensitively (tokens in
mail form are lower-case base32 and some systems upper-case addresses). ``postmaster``
(at the domain, or bare, which RFC 5321 §4.5.1 says a server must accept) goes to a
person. Every other address is not ours, so the server refuses it (never an open
relay).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MailboxKind(StrEnum):
    """The mailboxes."""

    UNSUBSCRIBE = "unsubscribe"
    BOUNCES = "bounces"
    FBL = "fbl"
    POSTMASTER = "postmaster"


@dataclass(frozen=True)
class Mailbox:
    """One of our addresses, parsed.

    Attributes:
        kind: which mailbox.
        token: the lower-cased token after ``+``, or None for the plain address.
    """

    kind: MailboxKind
    token: str | None

    @property
    def key(self) -> str:
        """A stable spelling, to treat two spellings of one address as one recipient."""
        return f"{self.kind}+{self.token}" if self.token else str(self.kind)


def parse_recipient(address: str, mail_domain: str) -> Mailbox | None:
    """The mailbox an envelope recipient names, or None when it is not one of ours.

    Args:
        address: the RCPT TO address, with or without angle brackets.
        mail_domain: ``settings.mail_domain``.
    """
    text = address.strip().strip("<>").strip()
    if text.lower() == "postmaster":
        return Mailbox(MailboxKind.POSTMASTER, None)
    local, at, domain = text.rpartition("@")
    if not at or domain.lower().rstrip(".") != mail_domain.lower():
        return None
    base, plus, token = local.lower().partition("+")
    try:
        kind = MailboxKind(base)
    except ValueError:
        return None
    if not plus:
        return Mailbox(kind, None)
    if kind in (MailboxKind.FBL, MailboxKind.POSTMASTER) or not token or len(local) > 64:
        return None
    return Mailbox(kind, token)


def token_in_uri(uri: str, mail_domain: str, base_url: str) -> str | None:
    """The token of ``mailto:unsubscribe+TOKEN@domain`` or ``{base_url}/u/TOKEN``, if ours."""
    text = uri.strip().strip("<>")
    if text.lower().startswith("mailto:"):
        address = text[7:].split("?", 1)[0]
        local, _, domain = address.rpartition("@")
        base, plus, token = local.partition("+")
        if plus and base.lower() == "unsubscribe" and domain.lower() == mail_domain.lower():
            return token or None
        return None
    prefix = base_url.rstrip("/") + "/u/"
    if text.lower().startswith(prefix.lower()):
        token = text[len(prefix) :].split("?", 1)[0].split("/", 1)[0]
        return token or None
    return None
