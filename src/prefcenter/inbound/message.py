"""Safe access to a raw inbound message: headers, parts and human text that never raise.

Inbound mail is hostile or broken often enough (undeclared 8-bit headers, unknown
charsets, broken base64, MIME nested thousands deep) that every accessor here catches
what the standard library throws and falls back to a cautious value. The ``compat32``
policy is used because it is the most lenient parser the standard library has.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses

#: Parts looked at in one message; a bounce or complaint needs a handful.
MAX_PARTS = 200
#: Nesting depth looked at; deeper parts are ignored.
MAX_DEPTH = 16
#: Characters of human text kept per message; decisions need the first lines only.
MAX_TEXT = 64 * 1024

_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"[ \t]+")


def clean(value: object) -> str:
    """A header or payload value as printable text: surrogates replaced, never raising."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decode_header_value(value: object) -> str:
    """Decode RFC 2047 encoded-words and raw 8-bit (UTF-8, else Latin-1); never raises."""
    if isinstance(value, str) and value.isascii() and "=?" not in value:
        return " ".join(value.split())  # the common case: nothing to decode
    if isinstance(value, Header):  # compat32 wraps undeclared 8-bit headers in Header
        try:
            value = value.encode()
        except Exception:
            value = str(value)
    raw = clean(value)
    try:
        chunks = decode_header(raw)
    except Exception:  # broken encoded-words: keep what we have
        chunks = [(raw, None)]
    words: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            words.append(chunk)
            continue
        words.append(_decode_bytes(chunk, charset))
    return " ".join("".join(words).split())


def _decode_bytes(data: bytes, charset: str | None) -> str:
    if charset and charset not in ("unknown-8bit", "us-ascii"):
        try:
            return data.decode(charset, "replace")
        except (LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def payload_text(part: Message) -> str:
    """The decoded text of a non-multipart part, whatever its charset or encoding."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        inner = part.get_payload()
        return clean(inner)[:MAX_TEXT] if isinstance(inner, str) else ""
    if not isinstance(payload, bytes):
        return ""
    payload = payload[: MAX_TEXT * 4]
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    try:
        return payload.decode(charset, "replace")[:MAX_TEXT]
    except (LookupError, ValueError):  # unknown charset name
        return payload.decode("utf-8", "replace")[:MAX_TEXT]


def header_fields(part: Message) -> list[tuple[str, str]]:
    """The header fields carried in a part's body (``message/*``, ``text/rfc822-headers``).

    compat32 parses ``message/*`` bodies into sub-messages, and ``text/*`` bodies stay
    text; both shapes are read, so a mislabelled report part still yields its fields.
    """
    inner = part.get_payload()
    fields: list[tuple[str, str]] = []
    if isinstance(inner, list):
        for sub in inner[:MAX_PARTS]:
            if isinstance(sub, Message):
                fields.extend((clean(k), decode_header_value(v)) for k, v in sub.items())
        return fields
    return parse_fields(payload_text(part))


def field_blocks_of(part: Message) -> list[list[tuple[str, str]]]:
    """Blocks of fields in a report part, whether compat32 split it or left it as text."""
    inner = part.get_payload()
    if isinstance(inner, list):
        return [
            [(clean(k), decode_header_value(v)) for k, v in sub.items()]
            for sub in inner[:MAX_PARTS]
            if isinstance(sub, Message)
        ]
    return field_blocks(payload_text(part))


def parse_fields(text: str) -> list[tuple[str, str]]:
    """Parse ``Name: value`` lines with folding; blank lines separate nothing (flattened)."""
    fields: list[tuple[str, str]] = []
    for line in text.splitlines()[:5000]:
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if colon and name and " " not in name.strip() and len(name) < 80:
            fields.append((name.strip(), value.strip()))
    return fields


def field_blocks(text: str) -> list[list[tuple[str, str]]]:
    """Split report text into blocks of fields at blank lines (RFC 3464 §2.1)."""
    blocks = [parse_fields(chunk) for chunk in re.split(r"\r?\n[ \t]*\r?\n", text)]
    return [block for block in blocks if block]


def html_to_text(html: str) -> str:
    """Crude tag stripping: enough to read a sentence out of an HTML-only message."""
    return _SPACE.sub(" ", _TAG.sub(" ", html))


@dataclass(frozen=True)
class Part:
    """One leaf or container met while walking a message.

    Attributes:
        message: the part itself.
        content_type: lower-case ``type/subtype``.
        depth: nesting depth, 0 for the top-level message.
        returned: True inside a returned original (``message/rfc822`` and its children).
    """

    message: Message
    content_type: str
    depth: int
    returned: bool


@dataclass(frozen=True)
class InboundMessage:
    """A parsed inbound message with accessors that never raise.

    Attributes:
        raw: the bytes exactly as received.
        message: the ``compat32`` parse tree (an empty message when parsing failed).
        defects: why parsing was incomplete, if it was.
    """

    raw: bytes
    message: Message
    defects: tuple[str, ...] = field(default=())
    #: What was already worked out (the part list, the text): a message is read often.
    _memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def header(self, name: str) -> str:
        """The first value of a header, decoded; ``""`` when absent."""
        values = self.headers(name)
        return values[0] if values else ""

    def headers(self, name: str) -> list[str]:
        """Every value of a header, decoded, in message order."""
        try:
            values = self.message.get_all(name) or []
        except Exception:
            return []
        return [decode_header_value(value) for value in values]

    @property
    def message_id(self) -> str:
        """The Message-ID, or a stable id derived from the bytes when there is none.

        Re-delivery of the same message must change nothing twice, so a message without
        a Message-ID is named by a hash of its content.
        """
        value = self.header("Message-ID").strip()
        if value and len(value) <= 500:
            return value
        return f"<sha256-{hashlib.sha256(self.raw).hexdigest()[:40]}@prefcenter.invalid>"

    @property
    def body_digest(self) -> str:
        """A short hash of the body (everything after the header block).

        Relays add headers on the way, so the body is what stays the same when one
        message is delivered again; two different messages sharing a Message-ID differ.
        """
        ends = [
            index + len(separator)
            for separator in (b"\r\n\r\n", b"\n\n")
            if (index := self.raw.find(separator)) >= 0
        ]
        body = self.raw[min(ends) :] if ends else b""
        return hashlib.sha256(body).hexdigest()[:16]

    @property
    def subject(self) -> str:
        """The decoded Subject, ``""`` when absent."""
        return self.header("Subject")[:1000]

    @property
    def from_address(self) -> str | None:
        """The single From address, lower-cased domain; None when absent or ambiguous."""
        values = self.headers("From")
        if len(values) != 1:
            return None
        try:
            pairs = getaddresses(values)
        except Exception:
            return None
        found = [address for _, address in pairs if "@" in address]
        if len(found) != 1:
            return None
        local, _, domain = found[0].rpartition("@")
        if not local or not domain:
            return None
        return f"{local}@{domain.lower()}"

    @property
    def from_domain(self) -> str | None:
        """The domain of the single From address (RFC 5322.From), lower-case."""
        address = self.from_address
        return address.rpartition("@")[2].rstrip(".") if address else None

    @property
    def content_type(self) -> str:
        """Lower-case ``type/subtype`` of the top-level message."""
        found = self._memo.get("content_type")
        if found is None:
            found = self._memo["content_type"] = _content_type(self.message)
        return str(found)

    def param(self, name: str) -> str:
        """A Content-Type parameter of the top-level message, lower-case; ``""`` if absent."""
        try:
            value = self.message.get_param(name)
        except Exception:
            return ""
        return clean(value).lower().strip() if isinstance(value, str) else ""

    def parts(self) -> Iterator[Part]:
        """Walk the MIME tree breadth-first, bounded in parts and depth (walked once)."""
        found = self._memo.get("parts")
        if not isinstance(found, list):
            found = self._memo["parts"] = list(self._walk())
        return iter(found)

    def _walk(self) -> Iterator[Part]:
        queue: list[Part] = [Part(self.message, self.content_type, 0, False)]
        seen = 0
        while queue and seen < MAX_PARTS:
            part = queue.pop(0)
            seen += 1
            yield part
            if part.depth >= MAX_DEPTH:
                continue
            children = _children(part.message)
            if not children:
                continue
            returned = part.returned or part.content_type == "message/rfc822"
            for child in children[:MAX_PARTS]:
                if isinstance(child, Message):
                    queue.append(Part(child, _content_type(child), part.depth + 1, returned))

    def text(self) -> str:
        """The human-readable text the sender wrote, without any returned original.

        The first ``text/plain`` leaves (else ``text/html`` stripped of tags) outside
        ``message/rfc822`` parts, joined; bounded to :data:`MAX_TEXT` characters.
        """
        found = self._memo.get("text")
        if found is None:
            found = self._memo["text"] = self._text()
        return str(found)

    def _text(self) -> str:
        plain: list[str] = []
        html: list[str] = []
        for part in self.parts():
            if part.returned or part.message.is_multipart():
                continue
            if _is_attachment(part.message):
                continue
            if part.content_type == "text/plain":
                plain.append(payload_text(part.message))
            elif part.content_type == "text/html":
                html.append(html_to_text(payload_text(part.message)))
        text = "\n".join(plain) if plain else "\n".join(html)
        return text[:MAX_TEXT]

    def summary(self) -> str:
        """Subject and sender domain for listings; never the clear sender address."""
        domain = self.from_domain or "unknown domain"
        return f"Subject: {self.subject[:200]!r} from a sender at {domain}"


def _children(message: Message) -> list[Message]:
    try:
        inner = message.get_payload()
    except Exception:  # a payload compat32 cannot hand back is treated as a leaf
        return []
    if not isinstance(inner, list):
        return []
    return [child for child in inner if isinstance(child, Message)]


def _content_type(message: Message) -> str:
    try:
        return clean(message.get_content_type()).lower()
    except Exception:
        return "text/plain"


def _is_attachment(message: Message) -> bool:
    try:
        disposition = message.get("Content-Disposition", "")
    except Exception:
        return False
    return clean(disposition).strip().lower().startswith("attachment")


def parse_message(raw: bytes) -> InboundMessage:
    """Parse raw message bytes; never raises.

    Args:
        raw: the message as received (any bytes, any line endings).

    Returns:
        An :class:`InboundMessage`; when the parser fails (for example MIME nested too
        deep for the recursive parser), its ``message`` holds the headers only and
        ``defects`` says why.
    """
    parser = email.parser.BytesParser(policy=email.policy.compat32)
    # Some relays prepend blank (or whitespace-only) lines, which would make every header
    # a continuation line: skip them, the header starts at the first real line.
    start = len(raw) - len(raw.lstrip(b" \t\r\n")) if raw[:1] in (b" ", b"\t", b"\r", b"\n") else 0
    if start:
        start = raw.rfind(b"\n", 0, start) + 1
    try:
        message = parser.parsebytes(raw[start:] if start else raw)
        return InboundMessage(raw, message, tuple(type(d).__name__ for d in message.defects))
    except Exception as error:  # RecursionError on deep nesting, others on odd bytes
        defect = f"unparsable MIME structure ({type(error).__name__})"
    try:
        headers_only = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
            raw, headersonly=True
        )
    except Exception:
        headers_only = Message()
    return InboundMessage(raw, headers_only, (defect,))
