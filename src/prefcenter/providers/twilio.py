"""Twilio inbound SMS (``POST /hooks/twilio``): STOP, START and HELP, and TwiML replies.

Twilio signs each request in ``X-Twilio-Signature``: base64 HMAC-SHA1, under the
account's auth token, of the URL Twilio requested followed by every form parameter's
name and value sorted by name (Twilio's "Webhooks security" page). The URL is the
public one, so it is rebuilt from ``BASE_URL`` and the path, whatever proxy sits in
front. Reading the message:

- ``OptOutType`` (``STOP``, ``START``, ``HELP``), which Twilio's Advanced Opt-Out adds
  when the message matched one of the keywords configured there, is honoured as is;
- otherwise the body is matched as a keyword (:mod:`prefcenter.providers.keywords`);
- free text that asks to stop goes to the exceptions queue; other text is ignored.

A STOP stops marketing texts to the number (channel ``sms``); whether it also stops
marketing calls is the SMS/voice rule of the policy, one setting for every source.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import unquote_to_bytes
from xml.sax.saxutils import escape

from prefcenter.errors import WebhookMalformed, WebhookUnauthorized
from prefcenter.model import Channel
from prefcenter.providers.event import EventKind, HookEvent, short
from prefcenter.providers.keywords import Keyword, Keywords, asks_to_stop

PROVIDER = "twilio"
SIGNATURE_HEADER = "x-twilio-signature"
#: Most form fields read from one request (Twilio sends about twenty).
MAX_FIELDS = 200
_KINDS = {
    Keyword.STOP: EventKind.SUPPRESS,
    Keyword.START: EventKind.RESUBSCRIBE,
    Keyword.HELP: EventKind.IGNORE,
}
_OPT_OUT_TYPES = {"STOP": Keyword.STOP, "START": Keyword.START, "HELP": Keyword.HELP}


def form(body: bytes) -> list[tuple[str, str]]:
    """The urlencoded form fields, in order (what ``parse_qsl`` reads, strictly).

    Raises:
        WebhookMalformed: not UTF-8 form data, or more than :data:`MAX_FIELDS` fields.
    """
    fields: list[tuple[str, str]] = []
    if not body:
        return fields
    try:
        pairs = body.decode("utf-8").split("&")
        if len(pairs) > MAX_FIELDS:
            raise ValueError("too many fields")
        for pair in pairs:
            name, equals, value = pair.partition("=")
            if not equals:
                raise ValueError("a field without =")
            fields.append((_unquote(name), _unquote(value)))
    except ValueError:  # UnicodeDecodeError is one
        raise WebhookMalformed(
            f"The Twilio body is not UTF-8 form data of at most {MAX_FIELDS} fields; "
            "nothing was changed.",
            provider=PROVIDER,
        ) from None
    return fields


def _unquote(raw: str) -> str:
    # Most of Twilio's values need no unescaping at all; the rest go through urllib.
    if "%" in raw or "+" in raw:
        return unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
    return raw


def signature(token: str, url: str, fields: Sequence[tuple[str, str]]) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of ``fields`` to ``url``."""
    data = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(token: str, url: str, fields: Sequence[tuple[str, str]], given: str) -> None:
    """Check ``X-Twilio-Signature``.

    Raises:
        WebhookUnauthorized: it does not match (a wrong token, or BASE_URL is not the
            URL configured in Twilio).
    """
    expected = signature(token, url, fields).encode()
    if not given or not hmac.compare_digest(expected, given.encode("utf-8", "replace")):
        raise WebhookUnauthorized(
            f"The X-Twilio-Signature does not match for {url[:200]!r}; check "
            "TWILIO_AUTH_TOKEN and that BASE_URL is the URL configured in Twilio.",
            provider=PROVIDER,
        )


def parse(
    fields: Sequence[tuple[str, str]], keywords: Keywords
) -> tuple[HookEvent, Keyword | None]:
    """The event of one inbound message, and the keyword it was (None for free text).

    Raises:
        WebhookMalformed: no ``From`` or ``MessageSid``.
    """
    data: Mapping[str, str] = dict(fields)
    number, sid = data.get("From", ""), data.get("MessageSid") or data.get("SmsSid", "")
    if not number or not sid:
        raise WebhookMalformed(
            "The Twilio request has no From or MessageSid; is this an inbound message webhook?",
            provider=PROVIDER,
        )
    text = data.get("Body", "")
    opt_out_type = data.get("OptOutType", "").upper()
    keyword = _OPT_OUT_TYPES.get(opt_out_type) or keywords.match(text)
    fields = (("to", short(data.get("To", ""), 20)), ("opt_out_type", short(opt_out_type, 10)))

    def event(kind: EventKind, reason: str, message: str = "") -> HookEvent:
        evidence = f"{PROVIDER}:{short(sid, 64)}"
        return HookEvent(
            PROVIDER, kind, number, Channel.SMS, evidence, reason, None, fields, message
        )

    if keyword is not None:
        heard = opt_out_type or short(text, 40).upper()
        return event(_KINDS[keyword], f"texted {heard}"), keyword
    if asks_to_stop(text):
        message = f"SMS from {number} to {data.get('To', '')} ({sid}):\n\n{text}"
        why = "An SMS in free text that may ask to stop; no keyword was used."
        return event(EventKind.EXCEPTION, why, message), None
    return event(EventKind.IGNORE, "free text"), None


def twiml(reply: str) -> bytes:
    """A TwiML document answering with ``reply`` (no message when it is empty)."""
    if not reply:
        return b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        f"{escape(reply)}</Message></Response>"
    ).encode()


__all__ = ["PROVIDER", "SIGNATURE_HEADER", "form", "parse", "signature", "twiml", "verify"]
