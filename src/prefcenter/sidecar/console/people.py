"""A person's whole story, and the changes an operator makes to it by role."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from prefcenter.errors import InvalidInput
from prefcenter.model import Channel, Identity, Scope, Source, show_time
from prefcenter.report.story import build_story
from prefcenter.sidecar.console.forms import evidence, read_form
from prefcenter.sidecar.console.state import (
    Console,
    Who,
    console_of,
    login_redirect,
)

_DONE = {
    "suppress": "Suppressed.",
    "resubscribe": "Resubscribed.",
    "pause": "Paused.",
    "resume": "Pause ended.",
    "link": "Linked.",
    "forget": "Forgotten: the clear address and free text are erased.",
    "nothing": "Nothing needed changing.",
}


# -- a person's whole story ------------------------------------------------------------------
async def person_page(request: Request) -> Response:
    """GET /person?q=ADDRESS: search, and the story of whoever it names."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    query = request.query_params.get("q", "").strip()[:320]
    story, problem = None, None
    if query:
        try:
            story = await console.call(build_story, console.center, query)
        except InvalidInput as error:
            problem = str(error)
    status = 422 if problem else 200
    return await console.call(_person, request, console, who, query, story, problem, status)


def _person(
    request: Request,
    console: Console,
    who: Who,
    query: str,
    story: Any,
    problem: str | None,
    status: int,
) -> Response:
    topics = console.settings.topics
    return console.render(
        request,
        "person.html",
        status,
        who=who,
        query=query,
        story=story,
        problem=problem,
        done=_DONE.get(request.query_params.get("done", "")),
        topics=topics,
        topic_label=lambda topic: "all marketing" if topic is None else topics.get(topic, topic),
        show_time=show_time,
        tomorrow=(datetime.now(UTC).date() + timedelta(days=1)).isoformat(),
    )


#: The role each person action needs (a hard resubscribe needs admin: checked below).
_PERSON_ROLES = {
    "suppress": "agent",
    "resubscribe": "agent",
    "pause": "agent",
    "resume": "agent",
    "link": "agent",
    "forget": "admin",
}


async def person_post(request: Request) -> Response:
    """POST /person: one change to one identity of the person, by the operator's role."""
    console = console_of(request)
    form = await read_form(request)
    action = str(form.get("action", ""))
    needed = _PERSON_ROLES.get(action, "agent")
    if action == "resubscribe" and form.get("scope") == Scope.HARD.value:
        needed = "admin"  # a hard stop (bounce, complaint, legal) is lifted by an admin only
    who = await console.who(request, needed)
    if who is None:
        return login_redirect(request)
    console.check_form(who, form)
    query = str(form.get("q", "")).strip()[:320]
    try:
        identity = _identity(form)
        changed = await console.call(
            _change, console, who, action, identity, form, evidence(who, request)
        )
    except InvalidInput as error:
        story = await console.call(build_story, console.center, query) if query else None
        problem = f"Nothing was changed. {error}"
        return await console.call(_person, request, console, who, query, story, problem, 422)
    done = action if changed else "nothing"
    return RedirectResponse(f"/person?{urlencode({'q': query, 'done': done})}", status_code=303)


def _identity(form: FormData) -> Identity:
    """The identity a person form acts on (its hash and channel, from the story page)."""
    hash_hex = str(form.get("identity", ""))
    channel = str(form.get("channel", "email"))
    try:
        digest = bytes.fromhex(hash_hex)
        chosen = Channel(channel)
    except ValueError:
        raise InvalidInput("The form names no identity; open the person's page again.") from None
    if len(digest) != 16:
        raise InvalidInput("The form names no identity; open the person's page again.")
    return Identity(chosen, "", "", digest)


def _change(
    console: Console, who: Who, action: str, identity: Identity, form: FormData, evidence: str
) -> bool:
    center = console.center
    reason = str(form.get("reason", "")).strip()[:500]
    by = f" (by {who.name} in the console)"
    topic = str(form.get("topic", "")) or None
    common: dict[str, Any] = {"source": Source.CONSOLE, "evidence": evidence}
    if action in ("suppress", "resubscribe") and not reason:
        raise InvalidInput(f"{action.capitalize()} needs a reason; say why, e.g. 'asked by phone'.")
    if action == "suppress":
        hard = form.get("hard") == "1"
        return bool(center.suppress(identity, topic=topic, hard=hard, reason=reason + by, **common))
    if action == "resubscribe":
        scope = str(form.get("scope", ""))
        return bool(
            center.resubscribe(
                identity,
                topic=topic if scope == Scope.TOPIC.value else None,
                hard=scope == Scope.HARD.value,
                reason=reason + by,
                **common,
            )
        )
    if action == "pause":
        text = str(form.get("until", ""))
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
        if day is None or day <= datetime.now(UTC).date():
            raise InvalidInput(
                f"Pause date {text[:20]!r} is not a future date; pick a day after today."
            )
        until = datetime.combine(day, clock_time(0, 0), tzinfo=UTC)
        return bool(center.pause(identity, until, **common))
    if action == "resume":
        return bool(center.resume(identity, **common))
    if action == "link":
        other = str(form.get("other", "")).strip()
        if not other:
            raise InvalidInput("Link needs the other address or phone number of the same person.")
        channel = Channel.EMAIL if "@" in other else Channel.SMS
        return bool(center.link(identity, other, second_channel=channel, **common))
    if action == "forget":
        if form.get("confirm") != "yes":
            raise InvalidInput(
                "Forget erases the person's clear data for good; tick the box to confirm."
            )
        return bool(center.forget(identity, **common))
    raise InvalidInput(f"Action {action[:20]!r} is unknown; press one of the page's buttons.")
