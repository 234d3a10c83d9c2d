"""Recognise an RFC 8058 one-click body in every shape mailbox providers send.

RFC 8058 §3.2: the receiver POSTs the body ``List-Unsubscribe=One-Click``. Gmail and
Yahoo send it as ``application/x-www-form-urlencoded``; others, and the RFC's own §8
examples, send ``multipart/form-data`` with a part named ``List-Unsubscribe`` holding
``One-Click``. The printed example's delimiter lines lack the two leading hyphens
RFC 2046 requires (reported in the RFC's errata), so a strict multipart parser rejects
the RFC's own request. We therefore match the field, not the framing: names and values
case-insensitively, surrounding whitespace and trailing CRLFs ignored, with or without
a Content-Type.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

#: RFC 8058 §3.2: the body of a one-click POST.
EXACT = b"List-Unsubscribe=One-Click"
#: The reason recorded on a suppression made by the unsubscribe link.
REASON = "unsubscribe link"
#: Bodies larger than this are not one-click requests (the real one is 26 bytes).
MAX_BODY = 16 * 1024

_PART = re.compile(
    rb'content-disposition:[^\r\n]*;\s*name\s*=\s*"?list-unsubscribe"?\s*(?:;[^\r\n]*)?\r?\n'
    rb"(?:[^\r\n]+\r?\n)*"  # further part headers, if any
    rb"\r?\n"  # the blank line ending the part headers
    rb"\s*one-click\s*(?:\r?\n|$)",
    re.IGNORECASE,
)


def is_one_click(body: bytes) -> bool:
    """True when ``body`` carries ``List-Unsubscribe=One-Click`` urlencoded or as a form part.

    The Content-Type is deliberately not consulted: senders mislabel it or leave it out.
    """
    if len(body) > MAX_BODY:
        return False
    if body.strip() == EXACT:  # what Gmail and Yahoo send: skip the parsing
        return True
    return bool(_PART.search(body)) or _urlencoded(body)


def _urlencoded(body: bytes) -> bool:
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return False
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name.strip().lower() == "list-unsubscribe" and value.strip().lower() == "one-click":
            return True
    return False


def via_page(body: bytes) -> bool:
    """True when the body came from our own confirm page's button (a person, not a provider)."""
    return b"via=page" in body
