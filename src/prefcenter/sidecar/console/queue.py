"""The exceptions queue: a page of items by due time, one item as plain text, its resolution."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from prefcenter.errors import InvalidInput
from prefcenter.model import ExceptionItem, Source, show_time
from prefcenter.report import format_duration
from prefcenter.sidecar.console.forms import evidence, read_form
from prefcenter.sidecar.console.state import (
    Console,
    Who,
    console_of,
    login_redirect,
)

PAGE_SIZE = 50
#: Characters of a queued message's text shown on its page (the rest: `exceptions show`).
MAX_TEXT = 20_000


# -- the exceptions queue ------------------------------------------------------------------
async def queue_page(request: Request) -> Response:
    """GET /queue: a page of items by due time, overdue first; filters in the query."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    params = request.query_params
    status = params.get("status", "open")
    if status not in ("open", "resolved", "dismissed"):
        status = "open"
    mailbox = params.get("mailbox", "")[:64] or None
    overdue = params.get("overdue") == "1"
    page = max(
        1, min(10_000, int(params.get("page", "1")) if params.get("page", "1").isdigit() else 1)
    )
    now = datetime.now(UTC)

    def read(session: Any) -> Any:
        items, total = session.exception_page(
            status=status,
            mailbox=mailbox,
            due_before=now if overdue else None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        return items, total, session.exception_mailboxes(), session.exception_counts(now)

    items, total, mailboxes, (open_count, overdue_count) = await console.call(
        console.center.store.read, read
    )
    query = {"status": status, "mailbox": mailbox or "", "overdue": "1" if overdue else ""}
    pages = max(1, -(-total // PAGE_SIZE))
    # Rendered in a worker thread, as every page is: the event loop stays free for the
    # public sidecar's one-clicks when both run in one process.
    return await console.call(
        console.render,
        request,
        "queue.html",
        who=who,
        items=[_row(item, now) for item in items],
        total=total,
        state=status,
        mailbox=mailbox or "",
        mailboxes=mailboxes,
        overdue=overdue,
        open_count=open_count,
        overdue_count=overdue_count,
        page=page,
        pages=pages,
        previous=f"/queue?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
        next=f"/queue?{urlencode({**query, 'page': page + 1})}" if page < pages else None,
    )


def _row(item: ExceptionItem, now: datetime) -> dict[str, Any]:
    late = item.status == "open" and item.due_at < now
    return {
        "item": item,
        "received": show_time(item.received_at),
        "due": show_time(item.due_at),
        "overdue": late,
        "late_by": format_duration(now - item.due_at) if late else "",
        "waiting": format_duration((item.resolved_at or now) - item.received_at),
    }


async def item_page(request: Request) -> Response:
    """GET /queue/{id}: the message as plain text, its attachments listed, the decisions."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    item = await console.call(console.center.exception, _item_id(request))
    return await console.call(_item, request, console, who, item)


def _item(
    request: Request,
    console: Console,
    who: Who,
    item: ExceptionItem,
    status: int = 200,
    problem: str | None = None,
    form: FormData | None = None,
) -> Response:
    message = BytesParser(policy=policy.default).parsebytes(item.raw)
    headers = [
        (name, str(message.get(name, ""))[:500])
        for name in ("From", "To", "Subject", "Date", "Message-ID")
        if message.get(name) is not None
    ]
    text, attachments = _plain_text(message)
    senders = getaddresses([str(message.get("From", ""))])
    address = senders[0][1] if senders and "@" in senders[0][1] else ""
    now = datetime.now(UTC)
    return console.render(
        request,
        "item.html",
        status,
        who=who,
        row=_row(item, now),
        headers=headers,
        text=text,
        attachments=attachments,
        address=str(form.get("address", address)) if form else address,
        reason=str(form.get("reason", "")) if form else "",
        other=str(form.get("other", "")) if form else "",
        problem=problem,
        done=request.query_params.get("done") == "1",
    )


def _plain_text(message: Any) -> tuple[str, list[dict[str, Any]]]:
    """The message's text parts as plain text, and every other part as a listed attachment."""
    texts: list[str] = []
    attachments: list[dict[str, Any]] = []
    parts = list(message.walk()) if message.is_multipart() else [message]
    for part in parts:
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        filename = part.get_filename()
        if kind in ("text/plain", "text/html") and not filename and len(texts) < 3:
            try:
                content = part.get_content()
            except (LookupError, ValueError, AssertionError):
                content = (
                    part.get_payload(decode=True).decode("latin-1")
                    if part.get_payload(decode=True)
                    else ""
                )
            if kind == "text/html":
                content = "[HTML shown as its source; it is never rendered]\n" + str(content)
            texts.append(str(content))
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else len(str(part.get_payload()))
        attachments.append({"name": filename or "(no name)", "type": kind, "size": size})
    text = "\n\n".join(texts) or "(no text part)"
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n[... cut at {MAX_TEXT} characters]"
    return text, attachments


def _item_id(request: Request) -> int:
    raw = request.path_params["item_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise HTTPException(404)
    return int(raw)


async def item_post(request: Request) -> Response:
    """POST /queue/{id}: suppress an address, dismiss, or link; a reason is required."""
    console = console_of(request)
    who = await console.who(request, "agent")
    if who is None:
        return login_redirect(request)
    form = await read_form(request)
    console.check_form(who, form)
    item_id = _item_id(request)
    action = str(form.get("action", ""))
    reason = str(form.get("reason", "")).strip()[:500]
    address = str(form.get("address", "")).strip()[:320]
    other = str(form.get("other", "")).strip()[:320]
    proof = evidence(who, request)
    reason_text = f"{reason} (by {who.name} in the console)" if reason else ""

    def resolve() -> None:
        center = console.center
        if action == "suppress":
            if not address:
                raise InvalidInput("Suppress needs the address to stop; type it in the form.")
            center.resolve_exception(
                item_id, suppress=address, reason=reason_text, source=Source.CONSOLE
            )
        elif action == "dismiss":
            center.resolve_exception(
                item_id, dismiss=True, reason=reason_text, source=Source.CONSOLE
            )
        elif action == "link":
            if not address or not other:
                raise InvalidInput(
                    "Link needs the address from the message and the person's known address."
                )
            with center.transaction() as changes:
                changes.resolve_exception(item_id, reason=reason_text, source=Source.CONSOLE)
                changes.link(address, other, source=Source.CONSOLE, evidence=proof)
        else:
            raise InvalidInput(
                f"Action {action[:20]!r} is unknown; press suppress, dismiss or link."
            )

    try:
        await console.call(resolve)
    except InvalidInput as error:
        item = await console.call(console.center.exception, item_id)
        problem = f"Nothing was changed. {error}"
        return await console.call(_item, request, console, who, item, 422, problem, form)
    return RedirectResponse(f"/queue/{item_id}?done=1", status_code=303)
