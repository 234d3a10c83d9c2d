"""What every console form shares: reading it within limits, and the evidence a change records."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from prefcenter.sidecar.console.state import (
    MAX_UPLOAD_BYTES,
    Who,
    console_of,
)


def evidence(who: Who, request: Request) -> str:
    """``console:<operator>:<request id>``: what every change made in the console records."""
    return evidence_of(who.name, request)


def evidence_of(name: str, request: Request) -> str:
    """The evidence for operator ``name`` (also before a login has succeeded)."""
    console = console_of(request)
    request_id = request.scope.setdefault("state", {}).setdefault(
        "request_id", console.request_ids.next()
    )
    return f"console:{name}:{request_id}"


async def read_form(request: Request) -> FormData:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
        raise HTTPException(413)
    return await request.form(max_files=1, max_fields=200)


def cell(value: object) -> object:
    # A text cell starting with = + @ (or a tab or CR) runs as a formula in a spreadsheet
    # (CSV injection, OWASP); cells here come from mail and senders, so defuse the start.
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value
    return value
