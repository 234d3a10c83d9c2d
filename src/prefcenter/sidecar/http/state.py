"""The sidecar's per-app state: center, settings, templates, keys and counters.

Kept on ``app.state.sidecar`` so that nothing lives at module level.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import itertools
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.errors import ConfigError, StoreUnavailable
from prefcenter.sidecar.groupcommit import GroupCommitter
from prefcenter.sidecar.http.i18n import Language, choose, load_languages
from prefcenter.sidecar.http.palette import Palette, palette
from prefcenter.sidecar.metrics import Metrics
from prefcenter.topics import NO_TOPIC

_TOPIC_CACHE_SIZE = 10_000
#: Most ``/v1/check/batch`` calls worked on at once; the others wait their turn.
BATCH_CONCURRENCY = 2
_PAGE_CACHE_SIZE = 1_000
_LINK_SLOT = "PREFCENTER-LINK-SLOT"


class RequestIds:
    """Request ids: a random prefix per app and a counter.

    Unique across restarts and replicas (the store treats a repeated evidence as a
    replay) without a syscall per request.
    """

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex() + "-"
        self._counter = itertools.count(1)

    def next(self) -> str:
        """A new id, e.g. ``3f2a9c0d51e4-1a``."""
        return f"{self._prefix}{next(self._counter):x}"


@dataclass(frozen=True)
class Sidecar:
    """Everything a route needs, kept on ``app.state.sidecar`` (no module state)."""

    center: PreferenceCenter
    settings: Settings
    metrics: Metrics
    committer: GroupCommitter
    templates: jinja2.Environment
    api_key_hashes: tuple[bytes, ...]
    csrf_keys: tuple[bytes, ...]
    #: digest -> topic name. A digest is a hash of its name, so an entry never goes stale.
    topic_names: dict[bytes, str] = field(default_factory=dict)
    #: Pages that differ per request only by one link, rendered once per key and kept
    #: as the encoded pieces around the link.
    page_cache: dict[tuple[str, str | None], list[bytes]] = field(default_factory=dict)
    request_ids: RequestIds = field(default_factory=RequestIds)
    #: Batch checks running at once. Each holds a worker thread, and the GIL, for up to
    #: a couple of seconds: more at once would starve the pages and one-click answers.
    batch_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(BATCH_CONCURRENCY)
    )
    #: The pages' languages (code -> catalog), compiled once when the app is made.
    languages: dict[str, Language] = field(default_factory=load_languages)

    @functools.cached_property
    def colours(self) -> Palette:
        """The pages' colours, from ``BRAND_COLOR``."""
        return palette(self.settings.brand_color)

    async def topic_of(self, digest: bytes) -> str | None:
        """The topic a token's digest names (None: all marketing), read once, then cached."""
        if digest == NO_TOPIC:
            return None
        name = self.topic_names.get(digest)
        if name is None:
            name = await self.store_call(self.center.topic_name, digest)
            if name is not None and len(self.topic_names) < _TOPIC_CACHE_SIZE:
                self.topic_names[digest] = name
        return name

    @functools.cached_property
    def branding(self) -> dict[str, str]:
        """What every page shows besides the company: logo, contact, privacy policy, and
        the address that unsubscribes whatever reaches it."""
        settings = self.settings
        contact = settings.contact
        is_url = contact.lower().startswith(("http://", "https://"))
        address = f"unsubscribe@{settings.mail_domain}"
        return {
            "logo_src": "" if not settings.logo else settings.logo if _is_url(settings.logo)
            else "/logo",
            "contact_href": contact if is_url or not contact else f"mailto:{contact}",
            "contact_text": "" if is_url else contact,
            "privacy_url": settings.privacy_url,
            "unsubscribe_address": address,
            "unsubscribe_mailto": f"mailto:{address}?subject=unsubscribe",
        }  # fmt: skip

    def language_of(self, request: Request) -> str:
        """The page language for ``request``: the link's lang=, else Accept-Language, else
        the LANGUAGE setting (see :mod:`prefcenter.sidecar.http.i18n`)."""
        return choose(
            request.query_params.get("lang"),
            request.headers.get("accept-language"),
            self.settings.language,
            self.languages,
        )

    def render(
        self, name: str, status: int = 200, *, lang: str | None = None, **context: Any
    ) -> HTMLResponse:
        """Render a page of the base layout in ``lang`` (default: LANGUAGE) with the
        configured branding."""
        language = self.languages.get(lang or self.settings.language) or self.languages["en"]
        html = self.templates.get_template(name).render(
            company=self.settings.company_name,
            colours=self.colours,
            **self.branding,
            **language.context(),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)

    def render_with_link(
        self, name: str, key: str | None, link: str, **context: Any
    ) -> HTMLResponse:
        """Render ``name`` once per ``key`` and drop ``link`` into the cached HTML.

        Rendering costs more than the rest of a one-click request; the link (a URL path
        of URL-safe characters) is the only part that differs between recipients.
        """
        response = HTMLResponse(self.page_with_link(name, key, link, **context))
        response.raw_headers.extend(PAGE_RAW_HEADERS)  # encoded once, not per request
        return response

    def page_with_link(self, name: str, key: str | None, link: str, **context: Any) -> bytes:
        """The body :meth:`render_with_link` answers with, as bytes."""
        pieces = self.page_cache.get((name, key))
        if pieces is None:
            html = bytes(self.render(name, link=_LINK_SLOT, **context).body)
            pieces = html.split(_LINK_SLOT.encode())
            if len(self.page_cache) < _PAGE_CACHE_SIZE:
                self.page_cache[(name, key)] = pieces
        return link.encode().join(pieces)

    def csrf_token(self, link_token: str) -> str:
        """The form token for pages opened with ``link_token``: no cookie, no server state."""
        return _mac(self.csrf_keys[-1], link_token)

    def csrf_valid(self, link_token: str, presented: str) -> bool:
        """True when ``presented`` was made for ``link_token`` with any configured key."""
        # As bytes: compare_digest refuses str with non-ASCII characters (a 500 otherwise).
        given = presented.encode("utf-8", "surrogatepass")
        ok = False
        for key in self.csrf_keys:
            ok |= hmac.compare_digest(_mac(key, link_token).encode(), given)
        return ok

    def api_key_valid(self, presented: str) -> bool:
        """Compare the presented bearer key's hash with every configured hash, in constant time."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        ok = False
        for stored in self.api_key_hashes:
            ok |= hmac.compare_digest(stored, digest)
        return ok

    async def store_call(
        self, function: Callable[..., Any], *args: Any, operation: str = "read", **kwargs: Any
    ) -> Any:
        """Run a synchronous center call in a worker thread and time it as ``operation``.

        Raises:
            StoreUnavailable: no answer within ``settings.store_timeout``; the request is
                answered 503 instead of waiting on a store that hangs.
        """
        started = time.perf_counter()
        limit = self.settings.store_timeout.total_seconds()
        call = functools.partial(function, *args, **kwargs)
        try:
            async with asyncio.timeout(limit):
                # Abandoned on timeout: a read left running in its thread harms nothing.
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except TimeoutError:
            raise StoreUnavailable(
                f"The store did not answer within {limit:g} s; nothing was changed, "
                "retry the request."
            ) from None
        finally:
            self.metrics.store_latency(operation, time.perf_counter() - started)


_PAGE_HEADERS: dict[str, str] = {
    # Pages never embed anything foreign and never run script.
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
#: Headers of every /v1 answer: they carry identity hashes and links, which no cache
#: should keep and no browser should sniff into another type.
API_HEADERS: dict[str, str] = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
#: The page headers, encoded once, for responses built by hand.
PAGE_RAW_HEADERS = [(k.encode(), v.encode()) for k, v in _PAGE_HEADERS.items()]


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def api_key_hashes(settings: Settings) -> tuple[bytes, ...]:
    """SHA-256 of every configured API key: ``sha256:HEX`` entries as given, others hashed now.

    Raises:
        ConfigError: an entry starts with ``sha256:`` but is not 64 hex digits.
    """
    hashes = []
    for secret in settings.api_keys:
        value = secret.reveal()
        if value.lower().startswith("sha256:"):
            hexdigits = value[7:]
            if not re.fullmatch(r"[0-9a-fA-F]{64}", hexdigits):
                raise ConfigError(
                    "Setting API_KEYS has a sha256: entry that is not 64 hex digits; "
                    "write sha256: followed by the hex SHA-256 of the key.",
                    name="api_keys",
                )
            hashes.append(bytes.fromhex(hexdigits))
        else:
            hashes.append(hashlib.sha256(value.encode()).digest())
    return tuple(hashes)


def request_id_of(request: Request) -> str:
    """The id of this request: recorded as evidence on every change it makes."""
    return str(request.scope.get("state", {}).get("request_id", ""))


def sidecar_of(request: Request) -> Sidecar:
    """The :class:`Sidecar` of the app serving ``request``."""
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar
