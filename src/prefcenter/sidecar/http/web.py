"""Pages for people: the one-click endpoint, its confirm page and the preference center.

A GET never changes state: link scanners and mail gateways fetch every link, and some
submit forms that post themselves, so pages never submit themselves; a person presses
the button. ``POST /u/{token}`` answers 200 only after the change has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive

from prefcenter.changes import SuppressRequest
from prefcenter.errors import InvalidInput
from prefcenter.model import Channel, Identity, Scope, Source, Suppression
from prefcenter.sidecar.http import oneclick
from prefcenter.sidecar.http.i18n import N_
from prefcenter.sidecar.http.state import Sidecar, request_id_of, sidecar_of
from prefcenter.tokens import Claims, Purpose

RESUBSCRIBE_REASON = "resubscribed on the preference page"
#: What the page confirms after each form action (Post/Redirect/Get carries the action).
_SAVED = {
    "save": N_("Your choices are saved."),
    "unsubscribe_all": N_("You are unsubscribed from everything."),
    "resubscribe": N_("You are subscribed again."),
}
#: Limits of a preference form: a page with every topic stays far below both.
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 200
#: The answers the optional "why?" after an unsubscribe offers (value, label).
FEEDBACK = [
    ("too_many", N_("Too many messages")),
    ("not_relevant", N_("Not what I signed up for")),
    ("never_signed_up", N_("I never signed up")),
    ("other", N_("Another reason")),
]
FREQUENCIES = [
    ("", N_("no limit")),
    ("7", N_("a week")),
    ("14", N_("every two weeks")),
    ("30", N_("a month")),
]


@dataclass(frozen=True)
class Link:
    """What a verified link token names."""

    token: str
    claims: Claims
    identity: Identity
    topic: str | None


async def resolve(sidecar: Sidecar, token: str, purpose: Purpose, *, address: bool = True) -> Link:
    """Verify a link token and name its identity and topic (raises ``TokenError``).

    With ``address=False`` the identity carries only the hash, which is all the store
    keys on: the one-click path then needs no read before its write.
    """
    # Verifying is a keyed hash over 21 bytes: cheap enough for the event loop.
    claims: Claims = sidecar.center.verify_token(token, purpose)
    # A genuine token whose topic the store cannot name (registry lost) is treated as
    # "all marketing": it stops more than asked, never less, and the page says so.
    topic = await sidecar.topic_of(claims.topic_digest)
    if address:
        identity = await sidecar.store_call(sidecar.center.identity_from_claims, claims)
    else:
        identity = Identity(claims.channel, "", "", bytes(claims.identity_hash))
    return Link(token=token, claims=claims, identity=identity, topic=topic)


def describe_stop(
    sidecar: Sidecar, topic: str | None, channel: Channel = Channel.EMAIL
) -> dict[str, str]:
    """What an unsubscribe stops, for the pages' sentences: the topic's label ("" for all
    marketing) and the medium: ``email``; ``phone`` (texts and calls: the SMS/voice rule,
    ``PHONE_OPT_OUT=texts_and_calls``), else ``sms`` or ``voice``."""
    label = "" if topic is None else sidecar.settings.topics.get(topic, topic)
    return {"topic_label": label, "medium": medium(sidecar, channel)}


def with_lang(sidecar: Sidecar, path: str, lang: str) -> str:
    """``path`` with ``?lang=`` when the page's language is not the default one, so the
    next page (after a button, a link) stays in it."""
    return path if lang == sidecar.settings.language else f"{path}?lang={lang}"


def medium(sidecar: Sidecar, channel: Channel) -> str:
    """How the pages speak of the messages a link's channel carries."""
    if channel is Channel.EMAIL:
        return "email"
    return "phone" if sidecar.settings.phone_opt_out == "texts_and_calls" else channel.value


async def read_body(receive: Receive) -> bytes:
    """The body, read straight from ASGI messages; stops once past ``oneclick.MAX_BODY``."""
    body: bytes = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body  # the client went away
        body += bytes(message.get("body", b""))
        if len(body) > oneclick.MAX_BODY or not message.get("more_body", False):
            return body


async def unsubscribe_page(request: Request) -> Response:
    """GET /u/{token}: say what will happen and offer the button; change nothing.

    Opened again after the change, it says when the person unsubscribed and links to
    the preference page, where they can subscribe again.
    """
    sidecar = sidecar_of(request)
    link = await resolve(sidecar, request.path_params["token"], Purpose.UNSUBSCRIBE)
    since = await sidecar.store_call(_unsubscribed_since, sidecar, link)
    return _confirm(sidecar, link, 200, sidecar.language_of(request), since)


def _unsubscribed_since(sidecar: Sidecar, link: Link) -> datetime | None:
    """When the opt-out this link makes took effect, if it is in force now."""
    stored = sidecar.center.suppressions(link.identity, channel=link.claims.channel)
    wanted = Scope.TOPIC if link.topic else Scope.GLOBAL
    found = [
        s.created_at
        for s in stored
        if s.scope is wanted and (s.topic == link.topic or not link.topic)
    ]
    return min(found) if found else None


def _confirm(
    sidecar: Sidecar, link: Link, status: int, lang: str, since: datetime | None = None
) -> Response:
    language = sidecar.languages.get(lang) or sidecar.languages["en"]
    return sidecar.render(
        "confirm.html",
        status,
        lang=lang,
        **describe_stop(sidecar, link.topic, link.claims.channel),
        action=with_lang(sidecar, f"/u/{link.token}", lang),
        preferences_url=with_lang(sidecar, _preferences_path(sidecar, link), lang),
        unsubscribed_on=language.date(since) if since else "",
    )


def _preferences_path(sidecar: Sidecar, link: Link) -> str:
    return preferences_path(sidecar, link.identity, link.topic)


def preferences_path(sidecar: Sidecar, identity: Identity, topic: str | None) -> str:
    """The path of the preference page for ``identity`` (and the topic it came from)."""
    # links (not center.preferences_url): signing only, never a store write in the loop.
    url: str = sidecar.center.links.preferences_url(identity, topic)
    return "/p/" + url.rsplit("/p/", 1)[-1]


async def one_click(request: Request) -> Response:
    """POST /u/{token}: RFC 8058 one-click unsubscribe; 200 only after commit."""
    sidecar = sidecar_of(request)
    link = await resolve(sidecar, request.path_params["token"], Purpose.UNSUBSCRIBE, address=False)
    body = await read_body(request.receive)
    lang = sidecar.language_of(request)
    if not oneclick.is_one_click(body):
        # Not what RFC 8058 sends; a person still gets the button that sends it.
        return _confirm(sidecar, link, 400, lang)
    source = Source.WEB if oneclick.via_page(body) else Source.ONE_CLICK
    change = SuppressRequest(
        link.identity,
        source,
        topic=link.topic,
        channel=link.claims.channel,
        reason=oneclick.REASON,
        evidence=request_id_of(request),
    )
    if await sidecar.committer.submit(change):
        sidecar.metrics.unsubscribe(source.value)
    stop = describe_stop(sidecar, link.topic, link.claims.channel)
    # The fast path caches the default language's email page by topic: the same page.
    plain = lang == sidecar.settings.language and stop["medium"] == "email"
    key = link.topic if plain else f"{link.topic}\0{stop['medium']}\0{lang}"
    suffix = with_lang(sidecar, "", lang)
    return sidecar.render_with_link(
        "done.html", key, _preferences_path(sidecar, link), lang=lang, **done_context(stop, suffix)
    )


def done_context(stop: dict[str, str], lang_suffix: str = "") -> dict[str, Any]:
    """What the done page shows besides the link: what stopped, and the "why?" answers."""
    return {**stop, "lang_suffix": lang_suffix, "feedback_reasons": FEEDBACK}


async def feedback_post(request: Request) -> Response:
    """POST /p/{token}/why: the optional answer to "why?" after an unsubscribe.

    Recorded as an audit event (``feedback``) and counted in ``prefcenter report``;
    it changes nothing else. No answer (the button pressed without a choice) is fine.
    """
    sidecar = sidecar_of(request)
    link = await resolve(sidecar, request.path_params["token"], Purpose.PREFERENCES, address=False)
    form = await read_form(request)
    why = str(form.get("why", ""))
    lang = sidecar.language_of(request)
    if why:
        await sidecar.committer.submit(
            lambda transaction: transaction.record_feedback(
                link.identity, why, channel=link.claims.channel, source=Source.WEB,
                evidence=request_id_of(request),
            )
        )  # fmt: skip
    return sidecar.render(
        "thanks.html",
        lang=lang,
        preferences_url=with_lang(sidecar, f"/p/{link.token}", lang),
        medium=medium(sidecar, link.claims.channel),
    )


def _state(sidecar: Sidecar, link: Link) -> dict[str, Any]:
    """Everything the preference page shows, read in a worker thread."""
    center, channel = sidecar.center, link.claims.channel
    preferences = center.preferences(link.identity, channel=channel)
    suppressions: list[Suppression] = center.suppressions(link.identity, channel=channel)
    off_topics = {s.topic for s in suppressions if s.scope == Scope.TOPIC}
    names = list(sidecar.settings.topics)
    for extra in [link.topic, *preferences.topics]:
        if extra and extra not in names:
            names.append(extra)
    topics = [
        {
            "id": name,
            "label": sidecar.settings.topics.get(name, name),
            "description": sidecar.settings.topic_descriptions.get(name, ""),
            "on": preferences.topics.get(name, True) and name not in off_topics,
        }
        for name in names
    ]
    paused = preferences.paused_until
    now = datetime.now(UTC)
    return {
        "topics": topics,
        "frequency": str(preferences.frequency_days or ""),
        "paused_until": paused.date().isoformat() if paused and paused > now else "",
        "paused_day": paused.date() if paused and paused > now else None,
        "medium": medium(sidecar, link.claims.channel),
        "hard": next((s for s in suppressions if s.scope == Scope.HARD), None),
        "unsubscribed": next((s for s in suppressions if s.scope == Scope.GLOBAL), None),
    }


async def preferences_page(request: Request) -> Response:
    """GET /p/{token}: the preference center for the identity the link names."""
    sidecar = sidecar_of(request)
    link = await resolve(sidecar, request.path_params["token"], Purpose.PREFERENCES)
    state = await sidecar.store_call(_state, sidecar, link)
    done = request.query_params.get("saved", "")
    # The link is anyone's to craft: say "unsubscribed" or "subscribed again" only when
    # the stored state agrees.
    if done == "unsubscribe_all" and not state["unsubscribed"]:
        done = ""
    if done == "resubscribe" and state["unsubscribed"]:
        done = ""
    lang = sidecar.language_of(request)
    return _preferences(sidecar, link, state, lang, saved=_SAVED.get(done))


def _preferences(
    sidecar: Sidecar,
    link: Link,
    state: dict[str, Any],
    lang: str,
    *,
    saved: str | None = None,
    problem: str | None = None,
    form: FormData | None = None,
) -> Response:
    """The preference page; after a refused form, with why and with what was submitted."""
    shown = dict(state, pause_value=state["paused_until"])
    if form is not None:  # keep the person's choices so they only fix the one value
        wanted, offered = set(form.getlist("topic")), set(form.getlist("shown"))
        shown["topics"] = [
            dict(topic, on=topic["id"] in wanted) if topic["id"] in offered else topic
            for topic in state["topics"]
        ]
        frequency = str(form.get("frequency", ""))
        if frequency in {value for value, _ in FREQUENCIES}:
            shown["frequency"] = frequency
        shown["pause_value"] = str(form.get("pause_until", "")).strip()[:10]
    shown["paused_until"] = shown.pop("paused_day")
    return sidecar.render(
        "preferences.html",
        422 if problem else 200,
        lang=lang,
        action=with_lang(sidecar, f"/p/{link.token}", lang),
        csrf=sidecar.csrf_token(link.token),
        frequencies=FREQUENCIES,
        earliest_pause=_earliest_pause().isoformat(),
        saved=saved,
        problem=problem,
        **shown,
    )


async def preferences_post(request: Request) -> Response:
    """POST /p/{token}: apply the form in one transaction, then show the page again."""
    sidecar = sidecar_of(request)
    link = await resolve(sidecar, request.path_params["token"], Purpose.PREFERENCES)
    form = await read_form(request)
    lang = sidecar.language_of(request)
    if not sidecar.csrf_valid(link.token, str(form.get("csrf", ""))):
        return sidecar.render(
            "problem.html",
            403,
            lang=lang,
            title=N_("This form has expired"),
            message=N_("Open the link from the message again and repeat your change."),
        )
    state = await sidecar.store_call(_state, sidecar, link)
    try:
        changes = _changes(link, form, state, request_id_of(request))
    except InvalidInput as error:  # nothing was changed: say why, on the page itself
        return _preferences(sidecar, link, state, lang, problem=str(error), form=form)
    changed = False
    if changes:
        changed = await sidecar.committer.submit(
            lambda transaction: _apply(transaction, link.identity, changes)
        )
    if changed and form.get("action") == "unsubscribe_all":
        sidecar.metrics.unsubscribe(Source.WEB.value)
    # Post/Redirect/Get: a reload shows the stored state instead of posting again.
    done = str(form.get("action", "save"))
    suffix = "" if lang == sidecar.settings.language else f"&lang={lang}"
    return RedirectResponse(f"/p/{link.token}?saved={done}{suffix}", status_code=303)


async def read_form(request: Request) -> FormData:
    """The page's url-encoded form, read up to a size and field count it never needs.

    Raises:
        HTTPException: 413 past either limit (the "Request too large" page).
    """
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:  # stop reading: never hold more than the limit
            raise HTTPException(413, f"The form is over {MAX_FORM_BYTES} bytes.")
    fields: list[tuple[str, str | UploadFile]]
    try:
        fields = list(
            parse_qsl(
                body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
            )
        )
    except ValueError:
        raise HTTPException(413, f"The form has over {MAX_FIELDS} fields.") from None
    return FormData(fields)


def _changes(
    link: Link, form: FormData, state: dict[str, Any], evidence: str
) -> list[tuple[str, dict[str, Any]]]:
    """The center calls a submitted form asks for, as (method, keyword arguments).

    The action is the value of the button pressed. A form submitted without one (by a
    script, or by a link scanner that submits forms) changes nothing.
    """
    common = {"channel": link.claims.channel, "source": Source.WEB, "evidence": evidence}
    action = form.get("action")
    if action is None:
        raise InvalidInput(
            "The form did not say what to do; press one of the page's buttons.",
            reason="no action",
        )
    calls: list[tuple[str, dict[str, Any]]] = []
    if action == "unsubscribe_all":
        calls.append(("suppress", {"topic": None, "reason": "unsubscribed on the preference page"}))
    elif action == "resubscribe":
        # Offered only to someone unsubscribed from all news (and not stopped hard):
        # for anyone else a forged press would record a resubscribe that lifts nothing.
        if state["unsubscribed"] and not state["hard"]:
            calls.append(("resubscribe", {"topic": None, "reason": RESUBSCRIBE_REASON}))
    elif action == "save":
        calls = _save_changes(form, state)
    else:
        raise InvalidInput(
            f"Form action {str(action)[:40]!r} is unknown; "
            "use save, unsubscribe_all or resubscribe.",
            value=action,
        )
    return [(method, {**kwargs, **common}) for method, kwargs in calls]


def _save_changes(form: FormData, state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    wanted = set(form.getlist("topic"))
    # Only the topics the page showed: one opened before a topic was added (or before
    # a change in another tab) must not turn off what it never offered.
    shown = set(form.getlist("shown"))
    for topic in state["topics"]:
        on = topic["id"] in wanted
        if topic["id"] in shown and on != topic["on"]:
            calls.append(("set_topic", {"topic": topic["id"], "subscribed": on}))
    frequency = str(form.get("frequency", ""))
    if frequency not in {value for value, _ in FREQUENCIES}:
        raise InvalidInput(
            f"Frequency {frequency[:20]!r} is not offered; pick one of the listed choices.",
            value=frequency,
        )
    if frequency != state["frequency"]:
        calls.append(("set_frequency", {"days": int(frequency) if frequency else None}))
    pause = str(form.get("pause_until", "")).strip()
    if pause != state["paused_until"]:
        if pause:
            calls.append(("pause", {"until": _pause_until(pause)}))
        else:
            calls.append(("resume", {}))
    return calls


def _pause_until(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or day < _earliest_pause():
        raise InvalidInput(
            f"Pause date {text[:20]!r} is not a future date; pick a day after today.", value=text
        )
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _earliest_pause() -> date:
    """Tomorrow (UTC): a pause ends at the start of its day, so today would end at once."""
    return datetime.now(UTC).date() + timedelta(days=1)


def _apply(transaction: Any, identity: Identity, changes: list[tuple[str, dict[str, Any]]]) -> bool:
    changed = False
    for method, kwargs in changes:
        changed |= bool(getattr(transaction, method)(identity, **kwargs))
    return changed


def routes() -> list[Route]:
    """The page routes."""
    return [
        Route("/u/{token}", one_click, methods=["POST"]),  # the hot path, matched first
        Route("/u/{token}", unsubscribe_page, methods=["GET"]),
        Route("/p/{token}", preferences_page, methods=["GET"]),
        Route("/p/{token}", preferences_post, methods=["POST"]),
        Route("/p/{token}/why", feedback_post, methods=["POST"]),
    ]
