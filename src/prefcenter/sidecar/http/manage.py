""" "Manage my preferences" without the mail: type an address, get a fresh link by mail.

``GET /manage`` shows a form; ``POST /manage`` answers the same page whatever the
address (known, unknown, rate-limited or invalid), so the page tells no one who is on
a list. A link is mailed (through ``NOTIFY_RELAY``, from ``no-reply@MAIL_DOMAIN``) only
to an address the store knows, at most ``PER_ADDRESS`` times an hour per address; one
client may ask ``PER_CLIENT`` times an hour (then ``429``). Sending happens after the
answer, so the answer takes as long for every address. Off unless ``MANAGE_PAGE`` is on.

The limits are token buckets (:mod:`prefcenter.sidecar.ratelimit`, per process), the
client's address read as every other limit reads it (``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prefcenter.config import split_hostport
from prefcenter.errors import InvalidInput
from prefcenter.sidecar.http.i18n import N_
from prefcenter.sidecar.http.state import Sidecar, sidecar_of
from prefcenter.sidecar.http.web import read_form
from prefcenter.sidecar.ratelimit import Network, TokenBuckets, client_address

#: Links mailed per address per hour, and requests per client per hour.
PER_ADDRESS = 3
PER_CLIENT = 20
_HOUR = 3600.0
SUBJECT = N_("Your preferences at %(company)s")
BODY = N_(
    "Open this link to choose what you get from %(company)s, or to unsubscribe:\n\n%(link)s"
    "\n\nIf you did not ask for it, ignore this message: nothing changes."
)


@dataclass
class Limits:
    """The manage page's limits and the mails it still has to send (kept referenced)."""

    proxies: tuple[Network, ...] = ()
    per_address: TokenBuckets = field(default_factory=lambda: TokenBuckets(PER_ADDRESS, _HOUR))
    per_client: TokenBuckets = field(default_factory=lambda: TokenBuckets(PER_CLIENT, _HOUR))
    sending: set[asyncio.Task[None]] = field(default_factory=set)


async def manage_page(request: Request) -> Response:
    """GET /manage: the form."""
    sidecar = _enabled(request)
    return sidecar.render("manage.html", lang=sidecar.language_of(request), sent=False)


async def manage_post(request: Request) -> Response:
    """POST /manage: the same answer for every address; mail a link to a known one."""
    sidecar = _enabled(request)
    lang = sidecar.language_of(request)
    limits: Limits = request.app.state.manage_limits
    peer = request.client.host if request.client else "?"
    client = client_address(peer, request.headers.get("x-forwarded-for"), limits.proxies)
    if limits.per_client.take(client):
        raise HTTPException(429, "Too many requests from this client; try again in an hour.")
    form = await read_form(request)
    address = str(form.get("address", "")).strip()[:320]
    task = asyncio.create_task(_maybe_send(sidecar, limits, address, lang))
    limits.sending.add(task)
    task.add_done_callback(limits.sending.discard)
    return sidecar.render("manage.html", lang=lang, sent=True)


async def _maybe_send(sidecar: Sidecar, limits: Limits, address: str, lang: str) -> None:
    center = sidecar.center
    try:
        identity = center.identity(address)
    except InvalidInput:
        return
    # Keyed by the identity hash: spellings of one address share a bucket; no clear address.
    if limits.per_address.take(hashlib.sha256(identity.hash).hexdigest()):
        return
    known = await sidecar.store_call(_known, sidecar, address)
    if known:
        link = center.links.preferences_url(identity, None, lang)
        await asyncio.to_thread(_send, sidecar, identity.address, link, lang)


def _known(sidecar: Sidecar, address: str) -> bool:
    """Whether the store holds anything about the address (a send, an event)."""
    center = sidecar.center
    return center.contacted(address) or bool(center.history(address))


def _send(sidecar: Sidecar, address: str, link: str, lang: str) -> None:
    settings = sidecar.settings
    language = sidecar.languages.get(lang) or sidecar.languages["en"]
    message = EmailMessage()
    message["Subject"] = str(language.gettext(SUBJECT, company=settings.company_name))
    message["From"] = f"no-reply@{settings.mail_domain}"
    message["To"] = address
    message["Message-ID"] = make_msgid(domain=settings.mail_domain)
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834: no responder answers it
    message["Content-Language"] = lang
    body = language.translations.gettext(BODY) % {"company": settings.company_name, "link": link}
    message.set_content(body)
    host, port = split_hostport("notify_relay", settings.notify_relay)
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        pass  # the person may ask again; nothing about the address is logged


def _enabled(request: Request) -> Sidecar:
    sidecar = sidecar_of(request)
    if not sidecar.settings.manage_page:
        raise HTTPException(404, "Not found.")
    return sidecar


def routes() -> list[Route]:
    """The manage page's routes."""
    return [
        Route("/manage", manage_page, methods=["GET"]),
        Route("/manage", manage_post, methods=["POST"]),
    ]


__all__ = ["Limits", "routes"]
