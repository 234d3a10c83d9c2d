"""``POST /hooks/{ses,sendgrid,postmark,mailgun,twilio,generic}``: providers' webhooks.

Each hook verifies the request (:mod:`prefcenter.providers`) before it reads a single
event, hands every event of the request to the group commit as one operation (one
transaction, shared with whatever else commits at that moment), and answers 2xx only
after that commit. Refusals change nothing: 401 for a bad signature, credentials, a
stale timestamp or a reused token, 403 for an SNS topic not configured, 400 for a body
that is not the provider's shape, 413 past :data:`MAX_BODY`, 503 when the store failed
(the provider retries; a replay then changes nothing, the evidence is the provider's
event id). A hook whose setting is empty answers 404.

Providers POST machine to machine, one event at a time for most of them, so
:class:`HooksEndpoint` answers ``/hooks/`` as raw ASGI in front of the middleware and
router (as the one-click fast path does): request id, metrics and the JSON error body
are made here, the error statuses come from the app's one mapping (``status_for``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import anyio.to_thread
from cryptography.x509.verification import Store
from starlette.types import Receive, Scope, Send

from prefcenter.changes import Changes
from prefcenter.config import Settings
from prefcenter.errors import ConfigError, WebhookForbidden, WebhookUnauthorized
from prefcenter.identity import canonical_phone
from prefcenter.providers import generic, mailgun, postmark, sendgrid, ses, sns, twilio
from prefcenter.providers.event import EventKind, HookEvent
from prefcenter.providers.keywords import Keyword, Keywords
from prefcenter.providers.record import Recorded, record, stop_request
from prefcenter.sidecar.http.state import API_HEADERS, Sidecar
from prefcenter.sidecar.ratelimit import buckets, client_address, parse_networks, retry_after

log = logging.getLogger("prefcenter.sidecar.hooks")

#: Largest webhook body read, in bytes (a SendGrid batch of a thousand events is ~1 MiB).
MAX_BODY = 4 * 1024 * 1024
#: Seconds a provider should wait before retrying after a 503.
RETRY_AFTER = "30"
_JSON = b"application/json"
_XML = b"application/xml"
_COUNTS = (
    b'{"events": %d, "changed": %d, "unchanged": %d, "ignored": %d, "invalid": %d, "queued": %d}'
)
_RAW_API_HEADERS = [(k.encode(), v.encode()) for k, v in API_HEADERS.items()]


class HookError(Exception):
    """A refusal decided here (404, 405, 413), with the status it is answered with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class HookRequest:
    """What a hook reads of a request: the path, query, headers (lower-case) and body."""

    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class HookAnswer:
    """A hook's answer: the body and its content type (the status is 200)."""

    body: bytes
    content_type: bytes = _JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Receivers:
    """What the hooks keep between requests: keys and the SNS certificates.

    Args:
        settings: the provider settings (``SES_TOPIC_ARNS``...).
        fetcher: fetches SNS certificates and subscription URLs (tests pass a local one).

    Raises:
        ConfigError: the SendGrid key or a generic secret cannot be used.
    """

    def __init__(self, settings: Settings, fetcher: sns.Fetcher | None = None) -> None:
        self.fetch = fetcher or sns.fetch_https
        self.certificates = sns.CertificateCache(self.fetch, trust=_trust(settings))
        self.topic_arns = frozenset(settings.ses_topic_arns)
        key = settings.sendgrid_webhook_public_key
        self.sendgrid_key = sendgrid.public_key(key) if key else None
        secrets = [secret.reveal() for secret in settings.generic_webhook_secret]
        self.generic = generic.verifiers(secrets)
        self.keywords = Keywords.with_extra(
            settings.sms_stop_words, settings.sms_start_words, settings.sms_help_words
        )
        if settings.twilio_auth_token is not None:
            # phonenumbers loads its tables on first use (about a second): here, at
            # start-up, rather than on the event loop under the first text's request.
            canonical_phone("+14155550100")


def _trust(settings: Settings) -> Store | None:
    """The SNS trust store of ``SES_TRUST_BUNDLE`` (None when it is empty)."""
    path = settings.ses_trust_bundle
    if not path:
        return None
    try:
        return sns.trust_store(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"Setting SES_TRUST_BUNDLE names {path!r}, which cannot be read as PEM "
            f"certificates ({error}); point it at a PEM file of CA certificates, or empty it.",
            name="ses_trust_bundle",
            value=path,
        ) from None


def _off(setting: str) -> HookError:
    return HookError(404, f"This webhook is off; set PREFCENTER_{setting} to turn it on.")


def _json(value: object) -> HookAnswer:
    return HookAnswer(json.dumps(value).encode())


class Hooks:
    """The six hooks, each ``async (request) -> HookAnswer``; raises to refuse."""

    def __init__(self, sidecar: Sidecar, receivers: Receivers) -> None:
        self.sidecar = sidecar
        self.settings = sidecar.settings
        self.receivers = receivers
        self.handlers: dict[str, Callable[[HookRequest], Awaitable[HookAnswer]]] = {
            "ses": self.ses,
            "sendgrid": self.sendgrid,
            "postmark": self.postmark,
            "mailgun": self.mailgun,
            "twilio": self.twilio,
            "generic": self.generic,
        }

    async def commit(
        self,
        provider: str,
        events: list[HookEvent],
        guard: Callable[[Changes], None] | None = None,
    ) -> Recorded:
        """Write ``events`` in the next group commit; returns once it committed.

        ``guard`` runs first in the same transaction and may refuse the request by
        raising (then nothing of it is written).
        """
        center = self.sidecar.center
        single = stop_request(center, events[0]) if len(events) == 1 and not guard else None
        if guard is not None:

            def guarded(tx: Changes) -> Recorded:
                guard(tx)
                return record(tx, center, events)

            recorded: Recorded = await self.sidecar.committer.submit(guarded)
        elif all(event.kind is EventKind.IGNORE for event in events):
            recorded = Recorded(len(events), 0, 0, len(events), 0, 0)  # nothing to write
        elif single is not None:
            # One stop: queued as one-clicks are, so concurrent webhooks share one
            # suppress_many in their group commit.
            changed = bool(await self.sidecar.committer.submit(single))
            recorded = Recorded(1, int(changed), int(not changed), 0, 0, 0)
        else:
            recorded = await self.sidecar.committer.submit(lambda tx: record(tx, center, events))
        self.sidecar.metrics.webhook(provider, recorded)
        return recorded

    async def committed(
        self,
        provider: str,
        events: list[HookEvent],
        guard: Callable[[Changes], None] | None = None,
    ) -> HookAnswer:
        """Commit ``events`` (after ``guard``) and answer what they did, as JSON."""
        recorded = await self.commit(provider, events, guard)
        # What json.dumps writes for these six counts, without building a dict per request.
        return HookAnswer(
            _COUNTS
            % (
                recorded.events,
                recorded.changed,
                recorded.unchanged,
                recorded.ignored,
                recorded.invalid,
                recorded.exceptions,
            )
        )

    async def ses(self, request: HookRequest) -> HookAnswer:
        """An SNS message carrying SES notifications (or a subscription to confirm)."""
        receivers = self.receivers
        if not receivers.topic_arns:
            raise _off("SES_TOPIC_ARNS")
        message = ses.envelope(request.body, receivers.topic_arns)
        key = receivers.certificates.cached(message.certificate_url)
        if key is None:  # the first message of a certificate: fetch it off the event loop
            key = await anyio.to_thread.run_sync(
                receivers.certificates.key, message.certificate_url
            )
        sns.verify(message.fields, key)
        if message.kind == "SubscriptionConfirmation":
            if not sns.pinned(message.subscribe_url):
                raise WebhookForbidden(
                    "The SubscribeURL is not an https://sns.<region>.amazonaws.com/ URL; "
                    "the subscription was not confirmed.",
                    provider="ses",
                )
            await anyio.to_thread.run_sync(receivers.fetch, message.subscribe_url)
            return _json({"confirmed": message.topic_arn})
        if message.kind != "Notification":
            return _json({"events": 0})
        return await self.committed("ses", ses.parse(message))

    async def sendgrid(self, request: HookRequest) -> HookAnswer:
        """A signed batch of Event Webhook events."""
        key = self.receivers.sendgrid_key
        if key is None:
            raise _off("SENDGRID_WEBHOOK_PUBLIC_KEY")
        tolerance = self.settings.sendgrid_timestamp_tolerance.total_seconds()
        sendgrid.verify(key, request.body, request.headers, time.time(), tolerance)
        events = sendgrid.parse(request.body, self.settings.sendgrid_asm_groups)
        return await self.committed("sendgrid", events)

    async def postmark(self, request: HookRequest) -> HookAnswer:
        """One Bounce, SpamComplaint or SubscriptionChange record."""
        password = self.settings.postmark_webhook_password
        if password is None:
            raise _off("POSTMARK_WEBHOOK_PASSWORD")
        try:
            postmark.verify(
                request.headers.get("authorization", ""),
                self.settings.postmark_webhook_user,
                password.reveal(),
            )
        except WebhookUnauthorized as error:  # RFC 9110 §11.6.1: say which scheme to use
            raise HookError(
                401, str(error), {"www-authenticate": 'Basic realm="prefcenter"'}
            ) from None
        events = postmark.parse(request.body, self.settings.postmark_stream_topics)
        return await self.committed("postmark", events)

    async def mailgun(self, request: HookRequest) -> HookAnswer:
        """One signed event."""
        key = self.settings.mailgun_webhook_signing_key
        if key is None:
            raise _off("MAILGUN_WEBHOOK_SIGNING_KEY")
        signed = mailgun.verify(request.body, key.reveal(), time.time())
        window = timedelta(seconds=mailgun.TOKEN_WINDOW)

        def admit(tx: Changes) -> None:
            # In the store, in the events' own transaction: every replica refuses a token
            # any of them has seen with another body, and a failed commit forgets it.
            if not tx.admit_token(signed.token, signed.body, window):
                raise WebhookUnauthorized(
                    "This Mailgun token was already used with another body; nothing was changed.",
                    provider="mailgun",
                )

        return await self.committed("mailgun", mailgun.parse(signed.event), admit)

    async def twilio(self, request: HookRequest) -> HookAnswer:
        """An inbound SMS, answered with TwiML."""
        settings = self.settings
        token = settings.twilio_auth_token
        if token is None:
            raise _off("TWILIO_AUTH_TOKEN")
        fields = twilio.form(request.body)
        # The URL Twilio signed is the public one, whatever proxy forwarded it here.
        url = settings.base_url.rstrip("/") + request.path
        if request.query:
            url += "?" + request.query
        signature = request.headers.get(twilio.SIGNATURE_HEADER, "")
        twilio.verify(token.reveal(), url, fields, signature)
        event, keyword = twilio.parse(fields, self.receivers.keywords)
        await self.commit("twilio", [event])
        reply = ""
        if keyword is not None and not dict(fields).get("OptOutType"):
            # With Advanced Opt-Out on (OptOutType present), Twilio has replied already.
            reply = {
                Keyword.STOP: settings.sms_stop_reply,
                Keyword.START: settings.sms_start_reply,
                Keyword.HELP: settings.sms_help_reply,
            }[keyword]
        return HookAnswer(twilio.twiml(reply), _XML)

    async def generic(self, request: HookRequest) -> HookAnswer:
        """One Standard Webhooks signed event."""
        verifiers = self.receivers.generic
        if not verifiers:
            raise _off("GENERIC_WEBHOOK_SECRET")
        generic.verify(verifiers, request.body, request.headers)
        events = generic.parse(request.body, request.headers.get("webhook-id", ""))
        return await self.committed("generic", events)


#: A raw response: status, headers, body.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
#: Reads the request's body, given its Content-Length header ("" when absent).
BodyReader = Callable[[str], Awaitable[bytes]]
#: Refusals that count against the client's failure bucket: only an outsider (or a
#: misconfigured sender) sends them, and each cost a verification.
_FAILURES = frozenset({400, 401, 403})


class HooksEndpoint:
    """``/hooks/...`` answered without the middleware: request id, rate limits, metrics,
    errors, and the hook itself.

    Two callers: the HTTP connection (:mod:`~prefcenter.sidecar.http.connection`, which
    skips ASGI for these too) and, as raw ASGI in front of the middleware, any request
    that reaches the app. Both go through :meth:`answer`.

    Rate limits (:mod:`~prefcenter.sidecar.ratelimit`), per client address (the peer,
    or the nearest untrusted ``X-Forwarded-For`` hop behind ``TRUSTED_PROXIES``):
    ``HOOK_RATE`` for every request (off by default: providers send bursts from a few
    addresses, and Twilio never retries a text), and ``HOOK_FAILURE_RATE`` for refused
    ones (400, 401, 403): once an address has used it up, its every ``/hooks`` request
    is answered 429 with ``Retry-After`` before anything is read or verified.

    Args:
        hooks: the hooks.
        status_for: the app's one mapping from an exception to an HTTP status.
    """

    def __init__(self, hooks: Hooks, status_for: Callable[[BaseException], int]) -> None:
        self.hooks = hooks
        self.status_for = status_for
        self._metrics = hooks.sidecar.metrics
        self._ids = hooks.sidecar.request_ids
        settings = hooks.settings
        self.requests = buckets(settings.hook_rate)
        self.failures = buckets(settings.hook_failure_rate)
        self.proxies = parse_networks(settings.trusted_proxies)

    @staticmethod
    def handles(scope: Scope) -> bool:
        """True for every HTTP request under ``/hooks/``."""
        return bool(scope["type"] == "http" and scope["path"].startswith("/hooks/"))

    def serves(self, path: str) -> bool:
        """True when ``path`` names a hook (``/hooks/twilio``...)."""
        return path.startswith("/hooks/") and path[len("/hooks/") :] in self.hooks.handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        status, headers, content = await self.answer(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            scope["headers"],
            lambda length: _read(receive, length),
            str(peer[0]) if peer else "unknown",
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def answer(
        self,
        method: str,
        path: str,
        query: str,
        raw_headers: list[tuple[bytes, bytes]],
        body: BodyReader,
        peer: str,
    ) -> Answer:
        """The whole response to one request under ``/hooks/``; raises nothing.

        Args:
            method, path, query: of the request (``query`` without the ``?``).
            raw_headers: the request's headers, names in lower case.
            body: reads the body (413 past :data:`MAX_BODY`); called once the request
                may go on (after the rate limits).
            peer: the connection's remote address.
        """
        request_id = self._ids.next()
        provider = path[len("/hooks/") :]
        handler = self.hooks.handlers.get(provider)
        route = f"/hooks/{provider}" if handler is not None else "unmatched"
        extra: list[tuple[bytes, bytes]] = []
        client = peer
        try:
            if handler is None:
                raise HookError(404, "No such webhook; POST to /hooks/ses, /hooks/sendgrid, ...")
            if method != "POST":
                raise HookError(405, "Webhooks accept POST only.", {"allow": "POST"})
            headers = {
                name.decode("latin-1"): value.decode("latin-1") for name, value in raw_headers
            }
            if self.proxies:
                forwarded = headers.get("x-forwarded-for")
                client = client_address(peer, forwarded, self.proxies)
            self._throttle(client)
            data = await body(headers.get("content-length", ""))
            answer = await handler(HookRequest(path, query, headers, data))
            status, content, content_type = 200, answer.body, answer.content_type
            extra = answer.headers
        except Exception as error:
            status, content, extra = self._refusal(error, request_id)
            content_type = _JSON
            if handler is not None:
                self._metrics.webhook_failure(provider, status)
            if status in _FAILURES and self.failures is not None:
                self.failures.take(client)
            if status >= 500 and status != 503:  # a bug: keep the traceback (no addresses in it)
                log.error("Webhook %s failed (request %s)", route, request_id, exc_info=error)
        raw = [
            (b"content-type", content_type),
            (b"content-length", b"%d" % len(content)),
            *_RAW_API_HEADERS,
            *extra,
            (b"x-request-id", request_id.encode()),
        ]
        self._metrics.request(route, method, status)
        return status, raw, content

    def _throttle(self, client: str) -> None:
        """Raise 429 when ``client`` is past ``HOOK_FAILURE_RATE`` or ``HOOK_RATE``."""
        wait = self.failures.waiting(client) if self.failures is not None else 0.0
        if not wait and self.requests is not None:
            wait = self.requests.take(client)
        if wait:
            seconds = retry_after(wait)
            raise HookError(
                429,
                f"Too many webhook requests from this address; retry after {seconds} seconds.",
                {"retry-after": seconds},
            )

    def _refusal(
        self, error: Exception, request_id: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if isinstance(error, HookError):
            status, headers = error.status, error.headers
        else:
            status, headers = self.status_for(error), {}
        if status == 503:
            headers["retry-after"] = RETRY_AFTER
        message = str(error) if status < 500 else _SERVER_MESSAGES.get(status, "Server error.")
        body = {"error": {"status": status, "message": message, "request_id": request_id}}
        encoded = [(name.encode(), value.encode()) for name, value in headers.items()]
        return status, json.dumps(body).encode(), encoded


_SERVER_MESSAGES = {
    503: "The store could not be written just now and nothing was changed; retry later.",
    500: "Something went wrong and nothing was changed; retry later.",
}


async def _read(receive: Receive, length: str) -> bytes:
    """The whole body; 413 once past :data:`MAX_BODY` (never held beyond it)."""
    too_large = HookError(413, f"Webhook body is over {MAX_BODY} bytes; send smaller batches.")
    if length.isdigit() and int(length) > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""  # the client went away; nothing will be answered
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


__all__ = [
    "MAX_BODY",
    "Answer",
    "BodyReader",
    "HookAnswer",
    "HookError",
    "HookRequest",
    "Hooks",
    "HooksEndpoint",
    "Receivers",
]
