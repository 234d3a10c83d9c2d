"""The unsubscribe headers every bulk message carries, and ``stamp`` to add them.

For a recipient and topic this makes (RFC 2369, RFC 8058, RFC 2919, RFC 9477)::

    List-Unsubscribe: <https://prefs.example.com/u/TOKEN>,
     <mailto:unsubscribe+TOKEN@unsub.example.com?subject=unsubscribe>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click
    List-Id: "Example News: Weekly" <weekly.unsub.example.com>
    CFBL-Address: fbl@unsub.example.com; report=arf      (when enabled)

The HTTPS URI comes first: Gmail uses the first one it supports. Python's ``email``
package RFC 2047-encodes header words longer than a line (``=?utf-8?q?...?=``),
which mailbox providers do not decode in List-Unsubscribe, so these headers are
stored pre-folded at the commas and always serialise exactly as written here.
"""

from __future__ import annotations

import logging
import re
from email.header import Header
from email.message import Message
from email.policy import Policy
from typing import Any, TypeVar
from urllib.parse import urlsplit

from prefcenter.config import Settings
from prefcenter.dkim import DkimKey, signature_header
from prefcenter.errors import HeaderInjection, InvalidInput
from prefcenter.model import Identity
from prefcenter.tokens import Purpose, TokenSigner
from prefcenter.topics import LINE_BREAKS, check_topic

#: RFC 8058 §3.1: the exact POST body a one-click unsubscribe sends.
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
log = logging.getLogger("prefcenter.headers")
#: ``stamp`` gives back the message it was given, of the caller's own type.
MessageT = TypeVar("MessageT", bound=Message)
ADDED_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "CFBL-Address")

_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")
_CACHE_SIZE = 4096


def refuse_breaks(what: str, value: str) -> str:
    """Return ``value`` unless it holds a control character or line break.

    Raises:
        HeaderInjection: it does; naming which input it was.
    """
    if LINE_BREAKS.search(value):
        raise HeaderInjection(
            f"{what} {value[:60]!r} contains a line break or control character; "
            "remove it (it could inject mail headers).",
            value=value,
            reason="line break",
        )
    return value


class FoldedHeader(str):
    """A header value the ``email`` package must serialise exactly as we folded it.

    ``email.policy.EmailPolicy`` asks a value with a ``name`` to fold itself; the
    lines are already at most 78 octets where possible and never RFC 2047-encoded.
    """

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, lines: tuple[str, ...]) -> FoldedHeader:
        value = super().__new__(cls, " ".join(lines))
        value.name = name
        value.lines = lines
        return value

    @property
    def defects(self) -> tuple[()]:
        return ()

    def fold(self, *, policy: Policy) -> str:
        linesep = policy.linesep
        return f"{self.name}: " + (linesep + " ").join(self.lines) + linesep

    def __reduce__(self) -> tuple[Any, ...]:
        return (FoldedHeader, (self.name, self.lines))


class Links:
    """Makes links, addresses and headers for one configuration.

    Args:
        settings: where ``base_url``, ``mail_domain``, topics and DKIM come from.
        signer: the token signer.
    """

    def __init__(self, settings: Settings, signer: TokenSigner) -> None:
        self.signer = signer
        self._base = refuse_breaks("Setting BASE_URL", settings.base_url.rstrip("/"))
        if _plain_http(self._base):
            log.warning(
                "BASE_URL %s is plain http: mailbox providers offer one-click only for an "
                "https List-Unsubscribe link (RFC 8058); serve the sidecar behind https",
                self._base,
            )
        self._domain = refuse_breaks("Setting MAIL_DOMAIN", settings.mail_domain.lower())
        self._list_domain = refuse_breaks(
            "Setting LIST_ID_DOMAIN", settings.list_id_domain or self._domain
        )
        self._company = refuse_breaks("Setting COMPANY_NAME", settings.company_name)
        self._topics = settings.topics
        self._cfbl = f"fbl@{self._domain}; report=arf" if settings.cfbl else None
        # The key is read at the first stamp(), not here: the sidecar and the CLI share
        # the senders' configuration but never sign, and need not be able to read it.
        self._dkim_settings = (
            (settings.dkim_domain, settings.dkim_selector, settings.dkim_key_file)
            if settings.dkim_domain and settings.dkim_key_file
            else None
        )
        self._dkim: DkimKey | None = None
        self._list_ids: dict[str | None, str] = {}
        self._checked_topics: set[str | None] = {None}

    def _topic(self, topic: str | None) -> str | None:
        # Topics repeat across a campaign: validate each once per instance (bounded).
        if topic not in self._checked_topics:
            check_topic(topic)
            if len(self._checked_topics) >= _CACHE_SIZE:
                self._checked_topics = {None}
            self._checked_topics.add(topic)
        return topic

    def unsubscribe_url(
        self, identity: Identity, topic: str | None = None, lang: str | None = None
    ) -> str:
        """The one-click URL (``POST`` unsubscribes; ``GET`` shows a confirm page).

        ``lang`` (``de``, ``fr``...) is the language of the pages the link opens.
        """
        token = self.signer.sign(identity, self._topic(topic), Purpose.UNSUBSCRIBE)
        return f"{self._base}/u/{token}{_lang_query(lang)}"

    def preferences_url(
        self, identity: Identity, topic: str | None = None, lang: str | None = None
    ) -> str:
        """The preference page URL, for a "manage your subscriptions" link in the body."""
        token = self.signer.sign(identity, self._topic(topic), Purpose.PREFERENCES)
        return f"{self._base}/p/{token}{_lang_query(lang)}"

    def mailto_address(self, identity: Identity, topic: str | None = None) -> str:
        """``unsubscribe+TOKEN@domain``: mail to it unsubscribes, whatever it says."""
        token = self.signer.sign_mailto(identity, self._topic(topic), Purpose.UNSUBSCRIBE)
        return f"unsubscribe+{token}@{self._domain}"

    def bounce_address(self, identity: Identity) -> str:
        """``bounces+TOKEN@domain``, the VERP return path (envelope sender) for this recipient."""
        token = self.signer.sign_mailto(identity, None, Purpose.BOUNCE)
        return f"bounces+{token}@{self._domain}"

    def list_id(self, topic: str | None) -> str:
        """The RFC 2919 List-Id for a topic: a quoted phrase and ``<label.domain>``."""
        cached = self._list_ids.get(topic)
        if cached is None:
            self._topic(topic)
            if len(self._list_ids) >= _CACHE_SIZE:
                self._list_ids.clear()
            label = _LABEL_CHARS.sub("-", (topic or "all").lower()).strip("-") or "list"
            name = self._topics.get(topic, topic) if topic else None
            phrase = f"{self._company}: {name}" if name else self._company
            cached = f"{_phrase(phrase)} <{label}.{self._list_domain}>"
            self._list_ids[topic] = cached
        return cached

    def headers(
        self, identity: Identity, topic: str | None = None, lang: str | None = None
    ) -> dict[str, str]:
        """The unsubscribe header set for one recipient, in the order to add them.

        Raises:
            InvalidTopic: the topic cannot be used, or ``lang`` is not a language tag.
        """
        url_token, mail_token = self.signer.sign_both(
            identity, self._topic(topic), Purpose.UNSUBSCRIBE
        )
        result = {
            "List-Unsubscribe": f"<{self._base}/u/{url_token}{_lang_query(lang)}>, "
            f"<mailto:unsubscribe+{mail_token}@{self._domain}?subject=unsubscribe>",
            "List-Unsubscribe-Post": ONE_CLICK_BODY,
            "List-Id": self.list_id(topic),
        }
        if self._cfbl:
            result["CFBL-Address"] = self._cfbl
        return result

    def dkim_key(self) -> DkimKey | None:
        """The configured DKIM key (None when signing is off), read from its file once.

        A sender may call it at start-up to fail before its first message.

        Raises:
            DkimError: the key file cannot be read or holds no usable key.
        """
        if self._dkim is None and self._dkim_settings is not None:
            self._dkim = DkimKey.load(*self._dkim_settings)
        return self._dkim

    def stamp(
        self,
        message: MessageT,
        identity: Identity,
        topic: str | None = None,
        lang: str | None = None,
    ) -> MessageT:
        """Add the header set to ``message`` (replacing any earlier ones) and DKIM-sign it.

        The message is changed in place and returned. With DKIM configured the signature
        covers the unsubscribe headers, over-signed, so it must be the last change made.

        Raises:
            InvalidTopic: the topic cannot be used.
            DkimError: the key file cannot be used (read at the first call), or signing failed.
        """
        values = self.headers(identity, topic, lang)
        for name in ADDED_HEADERS:
            del message[name]
        for name, value in values.items():
            lines = tuple(value.split(", ")) if name == "List-Unsubscribe" else (value,)
            if name == "List-Unsubscribe":
                lines = tuple(part + "," for part in lines[:-1]) + lines[-1:]
            message[name] = FoldedHeader(name, lines)
        key = self.dkim_key()
        if key is not None:
            # Message has no public way to remove one instance of a header or to prepend
            # one, so its list of headers is edited directly. A message stamped again
            # (one per recipient) loses the signature made for the previous recipient,
            # which no longer matches; signatures of other domains stay.
            kept = [(n, v) for n, v in message._headers if not _signed_by(n, v, key)]  # type: ignore[attr-defined]
            message._headers = kept  # type: ignore[attr-defined]
            signature = signature_header(message, key).decode("ascii")
            name, _, value = signature.partition(":")
            folded = tuple(line.strip() for line in value.strip().splitlines())
            # RFC 6376 §5.6: the signature goes above the fields it covers. Read the list
            # again: serialising a multipart sets its boundary, which replaces the list.
            message._headers.insert(0, (name, FoldedHeader(name, folded)))  # type: ignore[attr-defined]
        return message


def _lang_query(lang: str | None) -> str:
    """``?lang=de`` for a language tag, "" for None.

    Raises:
        InvalidInput: ``lang`` is not a plain language tag such as ``de`` or ``pt-BR``.
    """
    if lang is None:
        return ""
    if not re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})?", lang):
        raise InvalidInput(
            f"Language {lang[:20]!r} is not a language tag; write one such as de, fr or pt-BR.",
            value=lang,
            reason="language",
        )
    return f"?lang={lang}"


def _plain_http(base_url: str) -> bool:
    """An http:// base URL that is not this machine's (fine while developing)."""
    if not base_url.lower().startswith("http://"):
        return False
    host = urlsplit(base_url).hostname or ""
    return host not in ("localhost", "::1") and not host.startswith("127.")


def _signed_by(name: str, value: Any, key: DkimKey) -> bool:
    """Whether header ``name: value`` is a DKIM-Signature with ``key``'s d= and s=."""
    if name.lower() != "dkim-signature":
        return False
    tags = dict(
        tag.split("=", 1) for tag in re.sub(r"\s+", "", str(value)).split(";") if "=" in tag
    )
    return (
        tags.get("d", "").lower() == key.domain.lower()
        and tags.get("s", "").lower() == key.selector.lower()
    )


def _phrase(text: str) -> str:
    if text.isascii():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Header(text, "utf-8").encode()
