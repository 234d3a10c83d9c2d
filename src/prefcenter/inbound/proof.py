"""What a returned message carries that only we could have put there: proof before action.

A bounce or complaint is anybody's words until it shows that it concerns a message we
sent. Three things prove it: the VERP return path it was sent to (``bounces+TOKEN@``),
one of our tokens in the headers it returns (``List-Unsubscribe``, the ``Return-Path``
of the original), or the original's ``Message-ID`` that the sender recorded at send time
(``record_sent(message_id=...)``, ``stamp(message_id=...)``; only a keyed hash of it is
stored). Everything here only reads the message; :class:`~prefcenter.inbound.inbox.Inbox`
verifies the tokens and looks the ids up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

from prefcenter.errors import InvalidInput, TokenError
from prefcenter.inbound.arf import Complaint, unsubscribe_uris
from prefcenter.inbound.dsn import Bounce, BounceKind, RecipientStatus
from prefcenter.inbound.mailbox import Mailbox, MailboxKind, parse_recipient, token_in_uri
from prefcenter.inbound.message import (
    InboundMessage,
    decode_header_value,
    header_fields,
    parse_fields,
    payload_text,
)
from prefcenter.model import Channel, Identity
from prefcenter.tokens import Purpose

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

#: A Message-ID as written in headers: ``<left@right>``.
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250}@[^<>\s]{1,250})>")
#: Where a plain-text bounce starts quoting the original's header block.
_QUOTED_HEADERS = re.compile(r"(?im)^(message-id|list-unsubscribe|return-path)\s*:")
#: Headers whose values may carry our token or our Message-ID.
_WANTED = frozenset({"message-id", "list-unsubscribe", "return-path", "x-prefcenter-id"})


@dataclass(frozen=True)
class Returned:
    """What the returned original says about itself.

    Attributes:
        message_ids: the original's Message-ID and the bounce's own In-Reply-To and
            References (some servers name the failed message there), in that order.
        unsubscribe_uris: the ``<...>`` URIs of the original's List-Unsubscribe.
        return_paths: the addresses in the original's Return-Path (our VERP address).
    """

    message_ids: tuple[str, ...]
    unsubscribe_uris: tuple[str, ...]
    return_paths: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """True when nothing came back that could prove anything."""
        return not (self.message_ids or self.unsubscribe_uris or self.return_paths)


def _original_fields(message: InboundMessage) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for part in message.parts():
        if part.content_type == "message/rfc822" and not part.returned:
            fields += _wanted_headers(part.message)
        elif part.content_type in ("text/rfc822-headers", "text/rfc822-header"):
            fields += parse_fields(payload_text(part.message).split("\n\n", 1)[0])
        if len(fields) > 500:
            break
    if not fields:
        # A plain-text bounce quotes the original after its own text.
        text = message.text()
        found = _QUOTED_HEADERS.search(text)
        if found is not None:
            start = text.rfind("\n", 0, found.start()) + 1
            fields = parse_fields(text[start : start + 20000].split("\n\n", 1)[0])
    return [(name, value) for name, value in fields if name.lower() in _WANTED]


def _wanted_headers(part: Message) -> list[tuple[str, str]]:
    """The few headers proof needs from a ``message/rfc822`` part, decoded (only those)."""
    inner = part.get_payload()
    if not isinstance(inner, list) or not inner or not isinstance(inner[0], Message):
        return header_fields(part) if not isinstance(inner, list) else []
    found: list[tuple[str, str]] = []
    for name in ("Message-ID", "List-Unsubscribe", "Return-Path", "X-Prefcenter-Id"):
        values = inner[0].get_all(name) or []  # compat32 keeps raw strings: no decoding here
        found += [(name, decode_header_value(value)) for value in values[:5]]
    return found


def returned(message: InboundMessage) -> Returned:
    """What the returned original (and the bounce's own threading headers) carry; never raises."""
    ids: list[str] = []
    uris: list[str] = []
    paths: list[str] = []
    for name, value in _original_fields(message):
        lowered = name.lower()
        if lowered in ("message-id", "x-prefcenter-id"):
            ids += _MESSAGE_ID.findall(value)[:1]
        elif lowered == "list-unsubscribe":
            uris += unsubscribe_uris(value)
        elif lowered == "return-path":
            paths += [found.strip() for found in re.findall(r"<([^<>]{1,400})>", value)]
    for name in ("In-Reply-To", "References"):
        for value in message.headers(name)[:2]:
            ids += _MESSAGE_ID.findall(value)[:20]
    unique_ids = tuple(dict.fromkeys(ids))[:25]
    return Returned(unique_ids, tuple(dict.fromkeys(uris))[:10], tuple(dict.fromkeys(paths))[:5])


def find_proof(
    center: PreferenceCenter, message: InboundMessage, mailbox: Mailbox
) -> tuple[Identity | None, str]:
    """Who a bounce provably concerns, and how that is known (reads only).

    Our VERP token in the address it came to, else our token in the returned headers
    (List-Unsubscribe, the original's Return-Path), else a Message-ID of the original
    that a sender recorded at send time. ``(None, why not)`` otherwise.
    """
    if mailbox.token:
        try:
            claims = center.verify_token(mailbox.token, Purpose.BOUNCE)
        except TokenError as error:
            return None, f"the return-path token is not valid ({error.reason or 'forged'})"
        return center.identity_from_claims(claims), "our VERP return path"
    back = returned(message)
    for uri in back.unsubscribe_uris:
        identity = token_identity(center, uri)
        if identity is not None:
            return identity, "our token in the returned List-Unsubscribe"
    for path in back.return_paths:
        found = parse_recipient(path, center.settings.mail_domain)
        if found is None or found.kind is not MailboxKind.BOUNCES or not found.token:
            continue
        try:
            claims = center.verify_token(found.token, Purpose.BOUNCE)
        except TokenError:
            continue
        return center.identity_from_claims(claims), "our token in the returned Return-Path"
    for message_id in back.message_ids:
        owner = center.sent_to(message_id)
        if owner is not None:
            return identity_of_hash(center, owner), "a Message-ID recorded at send time"
    if back.empty:
        return None, "nothing of the original came back"
    return None, "no token of ours and no recorded Message-ID in what came back"


def complaint_proof(center: PreferenceCenter, complaint: Complaint) -> tuple[Identity | None, str]:
    """Who a complaint provably concerns: our token in the original's List-Unsubscribe,
    else the original's Message-ID recorded at send time; ``(None, why not)`` otherwise."""
    for uri in complaint.list_unsubscribe:
        identity = token_identity(center, uri)
        if identity is not None:
            return identity, "our token in List-Unsubscribe"
    if complaint.original_message_id:
        owner = center.sent_to(complaint.original_message_id)
        if owner is not None:
            return identity_of_hash(center, owner), "a Message-ID recorded at send time"
    if not complaint.has_original:
        return None, "the original did not come back"
    return None, "no token of ours and no recorded Message-ID in the original"


def identity_of_hash(center: PreferenceCenter, identity_hash: bytes) -> Identity:
    """The email identity a stored hash stands for; the address is "" when not stored."""
    with center.store.session() as session:
        address = session.address(identity_hash) or ""
    key = f"email:{address}" if address else ""
    return Identity(Channel.EMAIL, address, key, bytes(identity_hash))


def token_identity(center: PreferenceCenter, uri: str) -> Identity | None:
    """Our unsubscribe token in a mailto: or https: List-Unsubscribe URI, verified."""
    settings = center.settings
    token = token_in_uri(uri, settings.mail_domain, settings.base_url)
    if token is None:
        return None
    try:
        claims = center.verify_token(token, Purpose.UNSUBSCRIBE)
    except TokenError:
        return None
    if claims.channel is not Channel.EMAIL:
        return None
    return center.identity_from_claims(claims)


def result_for(
    center: PreferenceCenter, bounce: Bounce, identity: Identity
) -> RecipientStatus | None:
    """The report's result for the proven person: by address, else the only one."""
    results = [r for r in bounce.recipients if r.kind is not BounceKind.DELIVERED]
    for result in results:
        for address in (result.recipient, result.original):
            if not address:
                continue
            try:
                if center.identity(address).hash == identity.hash:
                    return result
            except InvalidInput:
                continue
    if len(results) == 1:
        return results[0]
    return None


__all__ = [
    "Returned",
    "complaint_proof",
    "find_proof",
    "identity_of_hash",
    "result_for",
    "returned",
    "token_identity",
]
