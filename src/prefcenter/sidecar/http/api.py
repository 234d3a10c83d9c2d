"""The /v1 JSON API: what non-Python senders call, with bearer keys hashed at rest.

Recipients travel in POST bodies, never in URLs, so they stay out of access logs.
Every change is recorded with source ``api`` and the request id as evidence.
The OpenAPI document (:mod:`prefcenter.sidecar.http.openapi`) describes exactly these routes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefcenter.errors import InvalidInput, StoreUnavailable
from prefcenter.feed import MAX_PAGE
from prefcenter.model import Channel, Kind, Source
from prefcenter.sidecar.http.openapi import MAX_BATCH, MAX_BODY, document, request_fields
from prefcenter.sidecar.http.state import API_HEADERS, Sidecar, request_id_of, sidecar_of

_CHANNELS = {c.value for c in Channel}
_KINDS = {k.value for k in Kind}


def _authorize(request: Request) -> Sidecar:
    sidecar = sidecar_of(request)
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip() or not sidecar.api_key_valid(key.strip()):
        raise HTTPException(
            401,
            "Send a configured API key as 'Authorization: Bearer KEY'.",
            headers={"www-authenticate": 'Bearer realm="prefcenter"'},
        )
    return sidecar


async def _body(request: Request, schema: str) -> dict[str, Any]:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:  # stop reading: never hold more than the limit in memory
            raise HTTPException(
                413, f"Request body is over {MAX_BODY} bytes; send fewer recipients."
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        # Strict UTF-8 (RFC 8259 §8.1): json.loads on bytes would also take UTF-16 and
        # let encoded surrogates (ED A0 80) through as text no encoder can write back.
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        data = None
    if not isinstance(data, dict):
        raise InvalidInput('Request body is not a JSON object; send one, e.g. {"recipient": ...}.')
    if b"\\ud" in raw.lower():  # a surrogate escape: only a pair makes a character
        _refuse_lone_surrogates(data)
    allowed = request_fields(schema)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(
            f"Field {unknown[0][:40]!r} is not one of this route's: "
            f"{', '.join(sorted(allowed))}; check its spelling.",
            value=unknown[0],
        )
    return data


def _refuse_lone_surrogates(value: Any, field: str = "") -> None:
    """Raise InvalidInput for text holding half of a UTF-16 pair (``"\\ud800"``): it is
    no character, and could be neither hashed nor written back as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"Field {field!r} holds an unpaired UTF-16 surrogate escape; send text as "
                "UTF-8 or as complete \\u escape pairs.",
                value=field,
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key, field)
            _refuse_lone_surrogates(item, field or key)
    elif isinstance(value, list):
        for item in value:
            _refuse_lone_surrogates(item, field)


def _text(data: dict[str, Any], name: str, *, required: bool = False, limit: int = 998) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"Field {name!r} is missing; add it as a string.", value=name)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInput(
            f"Field {name!r} must be a string of at most {limit} characters.", value=name
        )
    return value


def _choice(data: dict[str, Any], name: str, allowed: set[str], default: str) -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(
            f"Field {name!r} must be one of {', '.join(sorted(allowed))}.", value=name
        )
    return str(value)


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"Field {name!r} must be true or false.", value=name)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _json(value: Any, status: int = 200) -> Response:
    return JSONResponse(_plain(value), status_code=status, headers=API_HEADERS)


async def check(request: Request) -> Response:
    """POST /v1/check: may this one recipient be contacted now?"""
    sidecar = _authorize(request)
    data = await _body(request, "CheckRequest")
    decision = await sidecar.store_call(
        sidecar.center.check,
        _text(data, "recipient", required=True, limit=320),
        _text(data, "topic", limit=200),
        channel=_choice(data, "channel", _CHANNELS, "email"),
        kind=_choice(data, "kind", _KINDS, "marketing"),
    )
    return _json(asdict(decision))


async def check_batch(request: Request) -> Response:
    """POST /v1/check/batch: split a list into sendable and refused recipients."""
    sidecar = _authorize(request)
    data = await _body(request, "BatchRequest")
    recipients = data.get("recipients")
    if (
        not isinstance(recipients, list)
        or len(recipients) > MAX_BATCH
        or not all(isinstance(item, str) and len(item) <= 320 for item in recipients)
    ):
        raise InvalidInput(
            f"Field 'recipients' must be a list of at most {MAX_BATCH} strings.",
            value="recipients",
        )
    topic = _text(data, "topic", limit=200)
    channel = _choice(data, "channel", _CHANNELS, "email")
    kind = _choice(data, "kind", _KINDS, "marketing")
    try:  # the wait for a turn counts against STORE_TIMEOUT like the call itself
        async with asyncio.timeout(sidecar.settings.store_timeout.total_seconds()):
            await sidecar.batch_slots.acquire()
    except TimeoutError:
        raise StoreUnavailable(
            "Other batch checks kept the store busy; retry this one in a moment."
        ) from None
    try:
        result = await sidecar.store_call(
            sidecar.center.filter, recipients, topic, channel=channel, kind=kind
        )
    finally:
        sidecar.batch_slots.release()
    return _json(
        {
            "sendable": result.sendable,
            "refused": [asdict(refusal) for refusal in result.refused],
            "counts": result.counts(),
        }
    )


async def links(request: Request) -> Response:
    """POST /v1/links: the headers, links and return path for one message to a recipient."""
    sidecar = _authorize(request)
    data = await _body(request, "LinksRequest")
    made = await sidecar.store_call(  # in a thread: a new topic is registered in the store
        sidecar.center.message_links,
        _text(data, "recipient", required=True, limit=320),
        _text(data, "topic", limit=200),
        channel=_choice(data, "channel", _CHANNELS, "email"),
        lang=_text(data, "lang", limit=20),
    )
    return _json(made)


async def record_send(request: Request) -> Response:
    """POST /v1/sends: record that something was sent (feeds the frequency cap)."""
    sidecar = _authorize(request)
    data = await _body(request, "SendRequest")
    recipient = _text(data, "recipient", required=True, limit=320)
    kwargs = {
        "channel": _choice(data, "channel", _CHANNELS, "email"),
        "topic": _text(data, "topic", limit=200),
        "kind": _choice(data, "kind", _KINDS, "marketing"),
        "sender": _text(data, "sender", limit=200),
        "message_id": _text(data, "message_id", limit=998),
    }
    await sidecar.committer.submit(lambda txn: txn.record_sent(recipient, **kwargs))
    return _json({"recorded": True})


async def suppress(request: Request) -> Response:
    """POST /v1/suppress: record an opt-out (or a hard stop) for a recipient."""
    sidecar = _authorize(request)
    data = await _body(request, "SuppressRequest")
    recipient = _text(data, "recipient", required=True, limit=320)
    kwargs = {
        "topic": _text(data, "topic", limit=200),
        "channel": _choice(data, "channel", _CHANNELS, "email"),
        "hard": _flag(data, "hard"),
        "all_channels": _flag(data, "all_channels"),
        "reason": _text(data, "reason", limit=500) or "",
        "source": Source.API,
        "evidence": request_id_of(request),
    }
    changed = await sidecar.committer.submit(lambda txn: txn.suppress(recipient, **kwargs))
    if changed:
        sidecar.metrics.unsubscribe(Source.API.value)
    return _json({"changed": bool(changed), "request_id": request_id_of(request)})


async def resubscribe(request: Request) -> Response:
    """POST /v1/resubscribe: lift an opt-out; a reason is required and recorded."""
    sidecar = _authorize(request)
    data = await _body(request, "ResubscribeRequest")
    recipient = _text(data, "recipient", required=True, limit=320)
    kwargs = {
        "topic": _text(data, "topic", limit=200),
        "channel": _choice(data, "channel", _CHANNELS, "email"),
        "reason": _text(data, "reason", required=True, limit=500),
        "hard": _flag(data, "hard"),
        "source": Source.API,
        "evidence": request_id_of(request),
    }
    changed = await sidecar.committer.submit(lambda txn: txn.resubscribe(recipient, **kwargs))
    return _json({"changed": bool(changed), "request_id": request_id_of(request)})


async def history(request: Request) -> Response:
    """POST /v1/history: the audit events of one recipient, oldest first."""
    sidecar = _authorize(request)
    data = await _body(request, "HistoryRequest")
    events = await sidecar.store_call(
        sidecar.center.history,
        _text(data, "recipient", required=True, limit=320),
        channel=_choice(data, "channel", _CHANNELS, "email"),
    )
    return _json({"events": [asdict(event) for event in events]})


async def events(request: Request) -> Response:
    """GET /v1/events: the change feed, a page of events after the cursor ``after``."""
    sidecar = _authorize(request)
    query = request.query_params
    unknown = sorted(set(query) - {"after", "limit"})
    if unknown:
        raise InvalidInput(
            f"Query parameter {unknown[0][:40]!r} is not one of this route's: after, limit.",
            value=unknown[0][:40],
        )
    limit_text = query.get("limit", "100")
    if not limit_text.isdigit() or len(limit_text) > 5:
        raise InvalidInput(
            f"Query parameter 'limit' must be a whole number from 1 to {MAX_PAGE}.",
            value="limit",
        )
    events, cursor = await sidecar.store_call(
        sidecar.center.feed_text, query.get("after") or None, int(limit_text)
    )
    # The cursor first: a consumer can ask for the next page before parsing this one.
    body = f'{{"cursor":"{cursor}","events":{events}}}'.encode()
    return Response(body, media_type="application/json", headers=API_HEADERS)


async def openapi(request: Request) -> Response:
    """GET /v1/openapi.json: the description of this API (no key needed)."""
    return JSONResponse(document(sidecar_of(request).settings.base_url))


def routes() -> list[Route]:
    """The /v1 routes."""
    return [
        Route("/v1/openapi.json", openapi, methods=["GET"]),
        Route("/v1/check", check, methods=["POST"]),
        Route("/v1/check/batch", check_batch, methods=["POST"]),
        Route("/v1/links", links, methods=["POST"]),
        Route("/v1/sends", record_send, methods=["POST"]),
        Route("/v1/suppress", suppress, methods=["POST"]),
        Route("/v1/resubscribe", resubscribe, methods=["POST"]),
        Route("/v1/history", history, methods=["POST"]),
        Route("/v1/events", events, methods=["GET"]),
    ]
