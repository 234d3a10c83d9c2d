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

from urllib.parse import parse_qsl

#: RFC 8058 §3.2: the body of a one-click POST.
EXACT = b"List-Unsubscribe=One-Click"
#: The reason recorded on a suppression made by the unsubscribe link.
REASON = "unsubscribe link"
#: Bodies larger than this are not one-click requests (the real one is 26 bytes).
MAX_BODY = 16 * 1024


def is_one_click(body: bytes) -> bool:
    """True when ``body`` carries ``List-Unsubscribe=One-Click`` urlencoded or as a form part.

    The Content-Type is deliberately not consulted: senders mislabel it or leave it out.
    Runs in time linear in the body (the body comes from anyone, on the event loop).
    """
    if len(body) > MAX_BODY:
        return False
    if body.strip() == EXACT:  # what Gmail and Yahoo send: skip the parsing
        return True
    return _form_part(body) or _urlencoded(body)


def _form_part(body: bytes) -> bool:
    """A part whose ``Content-Disposition`` has ``name=list-unsubscribe``, holding one-click.

    Lines are read one at a time: the part's header line, any further header lines up to
    the blank line, then the value (blank lines before it allowed), so the framing
    around it (boundaries, with or without their hyphens) does not matter.
    """
    lines = iter(body.splitlines())
    for line in lines:
        if not _names_the_field(line):
            continue
        for header in lines:  # further part headers, up to the blank line
            if not header.strip():
                break
        for value in lines:
            if value.strip():
                if value.strip().lower() == b"one-click":
                    return True
                break
    return False


def _names_the_field(line: bytes) -> bool:
    """``Content-Disposition: form-data; name="List-Unsubscribe"`` in any case and spacing."""
    head, colon, params = line.partition(b":")
    if not colon or head.strip().lower() != b"content-disposition":
        return False
    for param in params.split(b";")[1:]:
        key, equals, value = param.partition(b"=")
        named = equals and key.strip().lower() == b"name"
        if named and value.strip().strip(b'"').strip().lower() == b"list-unsubscribe":
            return True
    return False


def _urlencoded(body: bytes) -> bool:
    return any(
        name.strip().lower() == "list-unsubscribe" and value.strip().lower() == "one-click"
        for name, value in _fields(body)
    )


def _fields(body: bytes) -> list[tuple[str, str]]:
    """The body's urlencoded fields; none when it is not ASCII text."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return []
    return parse_qsl(text, keep_blank_values=True)


def via_page(body: bytes) -> bool:
    """True when the body came from our own confirm page's button (a person, not a provider).

    The button sends the field ``via=page``; the words anywhere else (in a provider's
    multipart body, in another field's value) do not count.
    """
    if body.strip() == EXACT:  # a provider's one-click: no parsing on the hot path
        return False
    return ("via", "page") in _fields(body)
