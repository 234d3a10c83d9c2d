"""The list check: an uploaded CSV screened by the engine `prefcenter filter` uses.

The upload is written to disk as it arrives (``upload.py``), screened in a thread of
the console's own process, and its progress shown on a status page that reloads
itself (the ``Refresh`` response header: no script) until the check is done; the two
result files are then downloads, kept for an hour (``listjobs.py``).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from prefcenter.errors import InvalidInput
from prefcenter.model import Channel, Kind
from prefcenter.sidecar.console.listjobs import PARTS
from prefcenter.sidecar.console.state import (
    MAX_UPLOAD_BYTES,
    PAGE_HEADERS,
    console_of,
    login_redirect,
)
from prefcenter.sidecar.console.upload import receive_upload

#: Seconds between two loads of a running check's status page.
REFRESH_S = 2


async def lists_page(request: Request) -> Response:
    """GET /lists: the upload form, and this operator's checks still kept."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    checks = await console.call(console.lists.of, who.name)
    return console.render(
        request, "lists.html", who=who, topics=console.settings.topics, checks=checks
    )


async def lists_post(request: Request) -> Response:
    """POST /lists: store the upload, start screening it, and show its status page."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise HTTPException(413)
    key, dest = await console.call(console.lists.new)
    try:
        upload = await receive_upload(
            request, dest, lambda fields: console.check_form(who, fields), MAX_UPLOAD_BYTES
        )
        console.check_form(who, upload.fields)  # a form with no file: its token now
        if not upload.filename:
            raise InvalidInput("Choose a CSV file to check, then press Check the list.")
    except BaseException:
        await console.call(console.lists.discard, key)
        raise
    fields = upload.fields
    topic = fields.get("topic", "") or None
    if topic is not None and topic not in console.settings.topics:
        topic = None
    channel = fields.get("channel", "email")
    kind = fields.get("kind", "marketing")
    console.lists.start(
        console.center,
        key,
        owner=who.name,
        name=upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:80],
        size=upload.size,
        topic=topic,
        channel=channel if channel in {c.value for c in Channel} else Channel.EMAIL.value,
        kind=kind if kind in {k.value for k in Kind} else Kind.MARKETING.value,
    )
    return console.renew(request, who, RedirectResponse(f"/lists/{key}", status_code=303))


async def list_status(request: Request) -> Response:
    """GET /lists/{key}: how far the check got; reloads itself until it is done."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    check = await console.call(console.lists.get, request.path_params["key"], who.name)
    if check is None:
        raise HTTPException(404)
    still = request.query_params.get("still") == "1"
    response = console.render(request, "list_status.html", who=who, check=check, still=still)
    if check.state == "running" and not still:
        response.headers["refresh"] = str(REFRESH_S)
    return response


async def lists_download(request: Request) -> Response:
    """GET /lists/{key}/{sendable|rejects}.csv: a finished check's file (its operator only)."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    part = request.path_params["part"]
    check = await console.call(console.lists.get, request.path_params["key"], who.name)
    if check is None or check.state != "done" or part not in PARTS:
        raise HTTPException(404)
    stem = check.name.rsplit(".", 1)[0]
    # filename= writes the header as RFC 6266 asks (a name beyond ASCII included).
    answer = FileResponse(
        console.lists.path(check, part),
        media_type="text/csv",
        headers=PAGE_HEADERS,
        filename=f"{stem}-{part}.csv",
    )
    return console.renew(request, who, answer)
