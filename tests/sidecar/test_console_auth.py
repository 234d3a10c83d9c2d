"""Who may do what in the console: each refusal is a clear page and changes nothing.

A real console over loopback, driven by httpx: wrong passwords and the lockout, an
expired or forged session, a form without its CSRF token, a role below the action,
the sign-on header from an untrusted address, and the cookie and page headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest

from prefcenter.model import Action, Reason
from prefcenter.operators import MAX_FAILURES, REFUSED, Operators, new_totp_secret
from prefcenter.sidecar.console.auth import SESSION_COOKIE, Keys, Session
from tests.sidecar.conftest import live_sidecar
from tests.sidecar.console_live import (
    PASSWORD,
    SENDER,
    LiveConsole,
    console_settings,
    csrf_of,
    live_console,
)

HEADER = "X-Remote-User"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveConsole]:
    with live_console(console_settings(tmp_path)) as live:
        yield live


def _resolve(client: httpx.Client, live: LiveConsole, **form: str) -> httpx.Response:
    return client.post(f"/queue/{live.item.id}", data=form)


def _title(response: httpx.Response) -> str:
    text = response.text
    return text[text.index("<h1>") + 4 : text.index("</h1>")]


def test_a_page_without_a_session_sends_to_the_login(console: LiveConsole) -> None:
    answer = console.client().get("/queue")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_a_wrong_password_is_refused_with_one_sentence_and_no_session(
    console: LiveConsole,
) -> None:
    client = console.client()
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "name": "abe", "password": "nope" * 4})
    assert answer.status_code == 401
    assert REFUSED in answer.text
    assert f"{SESSION_COOKIE}=" not in answer.headers.get("set-cookie", "")
    unknown = client.post("/login", data={"csrf": token, "name": "nobody", "password": "x" * 12})
    assert unknown.status_code == 401 and REFUSED in unknown.text  # the same words


def test_five_wrong_passwords_lock_the_operator(console: LiveConsole) -> None:
    client = console.client()
    token = csrf_of(client.get("/login").text)
    for _ in range(MAX_FAILURES):
        wrong = {"csrf": token, "name": "abe", "password": "wrong password!"}
        assert client.post("/login", data=wrong).status_code == 401
    right = client.post("/login", data={"csrf": token, "name": "abe", "password": PASSWORD})
    assert right.status_code == 401  # locked: even the right password waits
    Operators(console.center).reset("abe", PASSWORD)  # an admin's reset clears the lockout
    assert console.login("abe").get("/queue").status_code == 200
    events = [(e.action, e.detail) for e in console.center.store.events()]
    assert (Action.OPERATOR_LOCKED, "abe") in events
    assert events[-1] == (Action.OPERATOR_LOGIN, "abe")


def test_logging_out_ends_the_session_and_is_recorded(console: LiveConsole) -> None:
    client = console.login("abe")
    token = csrf_of(client.get("/queue").text)
    answer = client.post("/logout", data={"csrf": token})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert client.get("/queue").status_code == 303  # the cookie is gone: log in again
    last = list(console.center.store.events())[-1]
    assert (last.action, last.detail, last.source) == (Action.OPERATOR_LOGOUT, "abe", "console")
    assert str(last.evidence).startswith("console:abe:")


def test_an_operator_with_totp_needs_the_code(console: LiveConsole) -> None:
    secret = new_totp_secret()
    Operators(console.center).add("tia", "viewer", PASSWORD, totp_secret=secret)
    client = console.client()
    token = csrf_of(client.get("/login").text)
    form = {"csrf": token, "name": "tia", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 401  # the password alone
    answer = client.post("/login", data={**form, "code": pyotp.TOTP(secret).now()})
    assert answer.status_code == 303
    assert client.get("/queue").status_code == 200


def test_login_attempts_from_one_address_are_throttled(console: LiveConsole) -> None:
    client = console.client()
    token = csrf_of(client.get("/login").text)
    statuses = [
        client.post("/login", data={"csrf": token, "name": f"x{n}", "password": "y" * 12})
        for n in range(12)
    ]
    assert [s.status_code for s in statuses][-1] == 429
    assert "Too many attempts" in statuses[-1].text
    assert int(statuses[-1].headers["retry-after"]) >= 1


def test_a_login_form_without_its_token_is_refused(console: LiveConsole) -> None:
    answer = console.client().post("/login", data={"name": "abe", "password": PASSWORD})
    assert answer.status_code == 403
    assert _title(answer) == "This form has expired"


def test_an_idle_session_has_ended(console: LiveConsole) -> None:
    keys = Keys(console.settings)
    idle = console.settings.console_idle_timeout.total_seconds()
    then = time.time() - idle - 60
    old = Session("abe", 1, then, then, "nonce")
    client = console.client(cookies={SESSION_COOKIE: keys.dump(old)})
    answer = client.get("/queue")
    assert answer.status_code == 401
    assert _title(answer) == "Your session has ended"
    assert 'href="/login"' in answer.text


def test_a_session_past_its_absolute_limit_has_ended(console: LiveConsole) -> None:
    keys = Keys(console.settings)
    began = time.time() - console.settings.console_session_max.total_seconds() - 60
    busy = Session("abe", 1, began, time.time(), "nonce")  # used a second ago, begun too long ago
    answer = console.client(cookies={SESSION_COOKIE: keys.dump(busy)}).get("/queue")
    assert answer.status_code == 401


def test_a_forged_session_cookie_is_refused(console: LiveConsole) -> None:
    forged = Keys(console_settings(Path("/nonexistent"), secret="another-secret-0123456789abcdef"))
    now = time.time()
    cookie = forged.dump(Session("ada", 1, now, now, "nonce"))
    answer = console.client(cookies={SESSION_COOKIE: cookie}).get("/queue")
    assert answer.status_code == 401


def test_a_disabled_operator_loses_the_open_session(console: LiveConsole) -> None:
    client = console.login("abe")
    assert client.get("/queue").status_code == 200
    Operators(console.center).disable("abe")
    answer = client.get("/queue")
    assert answer.status_code == 401
    assert "Log in again" in answer.text


def test_a_form_without_its_csrf_token_changes_nothing(console: LiveConsole) -> None:
    client = console.login("abe")
    form = {"action": "suppress", "address": SENDER, "reason": "asked"}
    answer = _resolve(client, console, **form)
    assert answer.status_code == 403
    assert _title(answer) == "This form has expired"
    other = console.login("ada")  # another operator's token is not this session's
    token = csrf_of(other.get(f"/queue/{console.item.id}").text)
    assert _resolve(client, console, csrf=token, **form).status_code == 403
    assert console.center.exception(console.item.id).status == "open"
    assert console.center.check(SENDER).allowed


def test_a_viewer_cannot_do_an_agents_action(console: LiveConsole) -> None:
    client = console.login("vic")
    page = client.get(f"/queue/{console.item.id}").text
    assert "Suppress and resolve" not in page  # not offered
    token = csrf_of(page)
    answer = _resolve(client, console, csrf=token, action="dismiss", reason="spam")
    assert answer.status_code == 403
    assert _title(answer) == "Not allowed for your role"
    assert "only an agent or an admin may do this, so nothing was changed" in answer.text
    assert console.center.exception(console.item.id).status == "open"


def test_a_refusal_offers_a_logged_in_operator_the_way_back(console: LiveConsole) -> None:
    client = console.login("vic")
    for path in ("/queue/999999", "/no-such-page"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert '<a href="/queue">Back to the exceptions</a>' in answer.text
        assert "Go to the login page" not in answer.text
    stranger = console.client().get("/no-such-page")
    assert stranger.status_code == 404
    assert "Go to the login page" in stranger.text


def test_only_an_admin_lifts_a_hard_stop(console: LiveConsole) -> None:
    person = "bounced@example.org"
    identity = console.center.identity(person)
    form = {
        "action": "resubscribe",
        "scope": "hard",
        "identity": identity.hash_hex,
        "channel": "email",
        "q": person,
        "reason": "mailbox works again",
    }
    agent = console.login("abe")
    token = csrf_of(agent.get(f"/person?q={person}").text)
    assert agent.post("/person", data={**form, "csrf": token}).status_code == 403
    assert console.center.check(person).reason == Reason.HARD_SUPPRESSED
    admin = console.login("ada")
    token = csrf_of(admin.get(f"/person?q={person}").text)
    assert admin.post("/person", data={**form, "csrf": token}).status_code == 303
    assert console.center.check(person).allowed


def test_forget_needs_an_admin_and_the_confirmation(console: LiveConsole) -> None:
    person = "caller@example.org"
    identity = console.center.identity(person)
    form = {"action": "forget", "identity": identity.hash_hex, "channel": "email", "q": person}
    agent = console.login("abe")
    token = csrf_of(agent.get(f"/person?q={person}").text)
    assert agent.post("/person", data={**form, "csrf": token, "confirm": "yes"}).status_code == 403
    admin = console.login("ada")
    token = csrf_of(admin.get(f"/person?q={person}").text)
    unconfirmed = admin.post("/person", data={**form, "csrf": token})
    assert unconfirmed.status_code == 422 and "tick the box to confirm" in unconfirmed.text
    assert console.center.history(person) == []  # nothing happened yet
    done = admin.post("/person", data={**form, "csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    events = console.center.history(person)
    assert [e.action.value for e in events] == ["forget"]
    assert str(events[0].evidence).startswith("console:ada:")


def test_the_user_header_from_an_untrusted_address_is_refused(tmp_path: Path) -> None:
    settings = console_settings(tmp_path, console_user_header=HEADER, trusted_proxies="10.0.0.0/8")
    with live_console(settings) as live:
        client = live.client(headers={HEADER: "ada"})
        answer = client.get("/queue")
        assert answer.status_code == 403
        assert _title(answer) == "Sign-in header not accepted"
        assert "did not come from a trusted proxy" in answer.text
        posted = client.post(f"/queue/{live.item.id}", data={"action": "dismiss", "reason": "x"})
        assert posted.status_code == 403
        assert live.center.exception(live.item.id).status == "open"


def test_the_user_header_from_a_trusted_proxy_names_the_operator(tmp_path: Path) -> None:
    settings = console_settings(
        tmp_path, console_user_header=HEADER, trusted_proxies="127.0.0.1", console_header_role=""
    )
    with live_console(settings) as live:
        admin = live.client(headers={HEADER: "ada"})
        page = admin.get(f"/queue/{live.item.id}")
        assert page.status_code == 200 and "ada (admin)" in page.text
        form = {"csrf": csrf_of(page.text), "action": "dismiss", "reason": "an auto-reply"}
        assert admin.post(f"/queue/{live.item.id}", data=form).status_code == 303
        assert live.center.exception(live.item.id).status == "dismissed"
        stranger = live.client(headers={HEADER: "mallory"}).get("/queue")
        assert stranger.status_code == 403  # not an operator, and CONSOLE_HEADER_ROLE is empty
        assert _title(stranger) == "No console access"


def test_cookies_and_headers_are_strict(console: LiveConsole) -> None:
    client = console.client()
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "name": "abe", "password": PASSWORD})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http on loopback; https adds Secure
    page = client.get("/queue")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "<script" not in page.text
    behind = client.get("/queue", headers={"x-forwarded-proto": "https"})
    assert "secure" not in behind.headers["set-cookie"].lower()  # not from a trusted proxy


def test_the_public_port_does_not_serve_the_console(tmp_path: Path) -> None:
    with live_sidecar(console_settings(tmp_path)) as public, public.client() as client:
        for path in ("/login", "/queue", "/report"):
            assert client.get(path).status_code == 404
