"""Hypothesis strategies for hostile mail: arbitrary bytes and arbitrary MIME trees."""

from __future__ import annotations

from hypothesis import strategies as st

CONTENT_TYPES = [
    "text/plain",
    "text/html",
    "text/rfc822-headers",
    "message/rfc822",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "application/octet-stream",
    "multipart/mixed",
    "multipart/report; report-type=delivery-status",
    "multipart/report; report-type=feedback-report",
    "multipart/alternative",
    "garbage",
    "multipart/",
]
CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "x-unknown", "utf-16", "", "\u00e9"]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]
FIELD_LINES = [
    b"Final-Recipient: rfc822; a@example.org",
    b"Original-Recipient: rfc822;",
    b"Action: failed",
    b"Action: delayed",
    b"Status: 5.1.1",
    b"Status: 4.2.2",
    b"Status: 9.9.9",
    b"Diagnostic-Code: smtp; 550 user unknown",
    b"Feedback-Type: abuse",
    b"Original-Rcpt-To: redacted",
    b"List-Unsubscribe: <mailto:unsubscribe+abc@unsub.example.com>",
    b"Auto-Submitted: auto-replied",
    b"Subject: =?utf-8?q?broken",
    b"From: =?x-bad?b?!!!?= <@>",
    b"DKIM-Signature: v=1; d=example.org; s=x; b=; bh=",
]

body_bytes = st.binary(max_size=300) | st.lists(st.sampled_from(FIELD_LINES), max_size=8).map(
    b"\r\n".join
)


def _headers(content_type: str, charset: str, encoding: str, boundary: str) -> bytes:
    value = content_type
    if content_type.startswith("multipart"):
        value += f'; boundary="{boundary}"'
    if charset:
        value += f"; charset={charset}"
    return f"Content-Type: {value}\r\nContent-Transfer-Encoding: {encoding}\r\n".encode(
        "utf-8", "surrogateescape"
    )


@st.composite
def _leaf(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    head = _headers(
        content_type, draw(st.sampled_from(CHARSETS)), draw(st.sampled_from(ENCODINGS)), "x"
    )
    return head + b"\r\n" + draw(body_bytes)


def _container(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        boundary = draw(st.sampled_from(["b1", "b2", "x", "=_q", ""]))
        kind = draw(st.sampled_from(["multipart/mixed", "multipart/report", "message/rfc822"]))
        head = _headers(kind, "", "7bit", boundary)
        parts = draw(st.lists(children, max_size=4))
        if kind == "message/rfc822":
            return head + b"\r\n" + (parts[0] if parts else b"")
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
        closing = draw(st.booleans())
        return head + b"\r\n" + body + (b"--" + boundary.encode() + b"--\r\n" if closing else b"")

    return build()


mime_trees = st.recursive(_leaf(), _container, max_leaves=12)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A whole message: some top headers, then a MIME tree, or raw bytes."""
    top = draw(st.lists(st.sampled_from(FIELD_LINES), max_size=5))
    tree = draw(mime_trees | st.binary(max_size=500))
    return b"\r\n".join(top) + (b"\r\n" if top else b"") + tree
