"""The list check: an uploaded CSV screened by the engine `prefcenter filter` uses."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from prefcenter.errors import InvalidInput
from prefcenter.model import Channel, Kind
from prefcenter.sidecar.console.forms import cell, read_form
from prefcenter.sidecar.console.state import (
    PAGE_HEADERS,
    Console,
    ListResult,
    Who,
    console_of,
    login_redirect,
)


# -- list check ---------------------------------------------------------------------------------
async def lists_page(request: Request) -> Response:
    """GET /lists: the upload form."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    return console.render(
        request, "lists.html", who=who, topics=console.settings.topics, result=None, key=None
    )


async def lists_post(request: Request) -> Response:
    """POST /lists: screen an uploaded CSV with the same engine as `prefcenter filter`."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    form = await read_form(request)
    console.check_form(who, form)
    upload = form.get("list")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("Choose a CSV file to check, then press Check the list.")
    topic = str(form.get("topic", "")) or None
    channel = str(form.get("channel", "email"))
    kind = str(form.get("kind", "marketing"))
    if channel not in {c.value for c in Channel}:
        channel = Channel.EMAIL.value
    if kind not in {k.value for k in Kind}:
        kind = Kind.MARKETING.value
    result = await console.call(_check_list, console, who, upload, topic, channel, kind)
    key = console.keep_result(result)
    return console.render(
        request, "lists.html", who=who, topics=console.settings.topics, result=result, key=key
    )


def _check_list(
    console: Console, who: Who, upload: UploadFile, topic: str | None, channel: str, kind: str
) -> ListResult:
    from prefcenter.screening.csv.listfilter import filter_csv

    rejects: list[tuple[str, str]] = []
    sink = io.BytesIO()
    with console.center.screen(topic, channel=channel, kind=kind) as screen:

        def screener(values: list[str]) -> list[Any]:
            verdicts: list[Any] = screen(values)
            rejects.extend((v, r.value) for v, r in zip(values, verdicts, strict=True) if r)
            return verdicts

        upload.file.seek(0)
        summary = filter_csv(upload.file, sink, screener)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["address", "reason"])
    writer.writerows([[cell(address), reason] for address, reason in rejects])
    name = (upload.filename or "list.csv").rsplit("/", 1)[-1][:80]
    return ListResult(
        owner=who.name,
        created=time.time(),
        name=name,
        sendable=sink.getvalue(),
        rejects=out.getvalue().encode(),
        summary=summary.as_dict(),
    )


async def lists_download(request: Request) -> Response:
    """GET /lists/{key}/{sendable|rejects}.csv: a finished check's file (its operator only)."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    result = console.results.get(request.path_params["key"])
    part = request.path_params["part"]
    if result is None or result.owner != who.name or part not in ("sendable", "rejects"):
        raise HTTPException(404)
    body = result.sendable if part == "sendable" else result.rejects
    stem = result.name.rsplit(".", 1)[0].replace('"', "")
    return Response(
        body,
        media_type="text/csv",
        headers={
            **PAGE_HEADERS,
            "content-disposition": f'attachment; filename="{stem}-{part}.csv"',
        },
    )
