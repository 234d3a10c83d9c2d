"""The pages and the RFC 8058 one-click endpoint, over real HTTP to a real uvicorn."""

from __future__ import annotations

import html
import re
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from babel.dates import format_date
from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Reason, Scope, Source
from prefcenter.store.sqlite import SqliteStore
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.helpers import (
    FORM,
    ONE_CLICK,
    post_many,
    preferences_path,
    unsubscribe_path,
)

ALICE = "alice@example.org"

# The exact request Gmail documents for one-click unsubscribe.
GMAIL = {"content-type": FORM}
#: The topics the preference page shows (the live sidecar's configuration), as its form sends them.
SHOWN = ["news", "deals", "events"]
RFC_BOUNDARY = "---FormBoundaryjWmhtjORrn"
# RFC 8058 §8.1 as printed: the delimiter lines lack RFC 2046's leading "--" (see errata).
RFC_PRINTED = (
    f"{RFC_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="List-Unsubscribe"\r\n'
    "\r\n"
    "One-Click\r\n"
    f"{RFC_BOUNDARY}--\r\n"
).encode()
# The same request with the delimiters the errata call for.
RFC_CORRECTED = (
    f"--{RFC_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="List-Unsubscribe"\r\n'
    "\r\n"
    "One-Click\r\n"
    f"--{RFC_BOUNDARY}--\r\n"
).encode()
MULTIPART = f"multipart/form-data; boundary={RFC_BOUNDARY}"

ACCEPTED_BODIES = [
    pytest.param({"content-type": FORM}, ONE_CLICK, id="gmail-urlencoded"),
    pytest.param({"content-type": FORM}, ONE_CLICK + b"\r\n", id="trailing-crlf"),
    pytest.param({"content-type": FORM}, b"list-unsubscribe=one-click", id="lower-case"),
    pytest.param({"content-type": FORM + "; charset=UTF-8"}, ONE_CLICK, id="charset"),
    pytest.param({}, ONE_CLICK, id="no-content-type"),
    pytest.param({"content-type": "text/plain"}, ONE_CLICK, id="mislabelled"),
    pytest.param({"content-type": MULTIPART}, RFC_PRINTED, id="rfc8058-printed-example"),
    pytest.param({"content-type": MULTIPART}, RFC_CORRECTED, id="rfc8058-errata-example"),
    pytest.param({}, RFC_CORRECTED, id="multipart-without-content-type"),
    pytest.param(
        {"content-type": MULTIPART},
        RFC_CORRECTED.replace(b"\r\n", b"\n"),
        id="multipart-bare-lf",
    ),
    pytest.param(
        {"content-type": MULTIPART},
        RFC_CORRECTED.replace(
            b'"List-Unsubscribe"\r\n', b'"List-Unsubscribe"\r\nContent-Type: text/plain\r\n'
        ),
        id="multipart-part-content-type",
    ),
]


def _refused(live: LiveSidecar, topic: str | None = None) -> Reason:
    decision = live.real_center.check(ALICE, topic)
    return decision.reason


@pytest.mark.parametrize(("headers", "body"), ACCEPTED_BODIES)
def test_one_click_variants_unsubscribe(
    live: LiveSidecar, headers: dict[str, str], body: bytes
) -> None:
    with live.client() as client:
        response = client.post(
            unsubscribe_path(live.real_center, ALICE), content=body, headers=headers
        )
    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    assert _refused(live) == Reason.UNSUBSCRIBED_GLOBAL


def test_multipart_built_by_a_client_library(live: LiveSidecar) -> None:
    with live.client() as client:
        response = client.post(
            unsubscribe_path(live.real_center, ALICE),
            files={"List-Unsubscribe": (None, "One-Click")},
        )
    assert response.status_code == 200
    assert _refused(live) == Reason.UNSUBSCRIBED_GLOBAL


def test_gmail_request_is_recorded_with_request_id(live: LiveSidecar) -> None:
    with live.client() as client:
        response = client.post(
            unsubscribe_path(live.real_center, ALICE), content=ONE_CLICK, headers=GMAIL
        )
    assert response.status_code == 200
    assert not response.cookies
    assert "location" not in response.headers
    events = [e for e in live.real_center.history(ALICE) if e.action == Action.SUPPRESS]
    assert len(events) == 1
    assert events[0].source == Source.ONE_CLICK
    assert events[0].evidence == response.headers["x-request-id"]


def test_one_click_is_idempotent(live: LiveSidecar) -> None:
    path = unsubscribe_path(live.real_center, ALICE)
    with live.client() as client:
        first = client.post(path, content=ONE_CLICK, headers=GMAIL)
        second = client.post(path, content=ONE_CLICK, headers=GMAIL)
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(live.real_center.suppressions(ALICE)) == 1
    # Each request is kept as evidence; the suppression itself exists once.
    evidence = [e.evidence for e in live.real_center.history(ALICE) if e.action == Action.SUPPRESS]
    assert evidence == [first.headers["x-request-id"], second.headers["x-request-id"]]


def test_topic_link_unsubscribes_that_topic_only(live: LiveSidecar) -> None:
    with live.client() as client:
        response = client.post(
            unsubscribe_path(live.real_center, ALICE, "deals"), content=ONE_CLICK, headers=GMAIL
        )
    assert response.status_code == 200
    assert "Deals and offers" in response.text
    assert _refused(live, "deals") == Reason.UNSUBSCRIBED_TOPIC
    assert live.real_center.check(ALICE, "news").allowed


@pytest.mark.parametrize(
    "body",
    [b"", b"List-Unsubscribe=Two-Clicks", b"hello", b"One-Click", b"x" * 20000],
    ids=["empty", "other-value", "junk", "value-only", "oversized"],
)
def test_other_bodies_change_nothing_and_offer_the_button(live: LiveSidecar, body: bytes) -> None:
    path = unsubscribe_path(live.real_center, ALICE)
    with live.client() as client:
        response = client.post(path, content=body, headers=GMAIL)
    assert response.status_code == 400
    assert 'method="post"' in response.text
    assert live.real_center.check(ALICE).allowed


def _tamper(token: str) -> str:
    index = len(token) // 2
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def test_bad_tokens_are_400_pages_and_change_nothing(live: LiveSidecar) -> None:
    good = unsubscribe_path(live.real_center, ALICE)
    token = good.rsplit("/", 1)[1]
    wrong_purpose = preferences_path(live.real_center, ALICE).rsplit("/", 1)[1]
    with live.client() as client:
        for bad in (_tamper(token), token[:-3], "not-a-token", wrong_purpose, token + "AA"):
            for method in ("GET", "POST"):
                response = client.request(method, f"/u/{bad}", content=ONE_CLICK, headers=GMAIL)
                assert response.status_code == 400, (bad, method)
                assert response.headers["content-type"].startswith("text/html")
                assert "This link does not work" in response.text
        response = client.get(f"/p/{token}")  # an unsubscribe token is not a preferences token
        assert response.status_code == 400
    assert live.real_center.check(ALICE).allowed
    assert live.real_center.history(ALICE) == []


TOKEN_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)


def test_arbitrary_tokens_never_500(live: LiveSidecar) -> None:
    with live.client() as client:

        @settings(max_examples=100, deadline=None, database=None)
        @given(token=TOKEN_TEXT, method=st.sampled_from(["GET", "POST"]))
        def check(token: str, method: str) -> None:
            for prefix in ("/u/", "/p/"):
                path = prefix + quote(token, safe="")
                response = client.request(method, path, content=ONE_CLICK, headers=GMAIL)
                assert response.status_code in (400, 403, 404, 405), (path, response.status_code)

        check()
    assert live.real_center.export() is not None
    assert list(live.real_center.export()) == []


def test_get_shows_the_button_and_changes_nothing(live: LiveSidecar) -> None:
    path = unsubscribe_path(live.real_center, ALICE)
    with live.client() as client:
        response = client.get(path)
        head = client.head(path)
    assert response.status_code == 200
    assert head.status_code == 200
    page = response.text
    assert "Stop all email from Example News?" in page
    assert re.search(r'<form method="post" action="/u/[^"]+">', page)
    assert '<html lang="en">' in page
    assert "<script" not in page.lower()
    assert "http-equiv" not in page.lower()
    assert "/p/" in page  # a way to the preference page
    assert live.real_center.check(ALICE).allowed
    assert live.real_center.history(ALICE) == []


def test_confirm_button_records_source_web(live: LiveSidecar) -> None:
    """What the page's own form sends (as a browser would) is recorded as a web change."""
    with live.client() as client:
        page = client.get(unsubscribe_path(live.real_center, ALICE)).text
        action = re.search(r'<form method="post" action="([^"]+)">', page)
        assert action is not None
        fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
        response = client.post(
            html.unescape(action[1]),
            content=urlencode(fields),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    events = [e for e in live.real_center.history(ALICE) if e.action == Action.SUPPRESS]
    assert [e.source for e in events] == [Source.WEB]


def test_store_down_is_503_with_retry_after_and_nothing_changed(live: LiveSidecar) -> None:
    live.faults.fail = True
    with live.client() as client:
        response = client.post(
            unsubscribe_path(live.real_center, ALICE), content=ONE_CLICK, headers=GMAIL
        )
        health = client.get("/readyz")
        alive = client.get("/healthz")
    live.faults.fail = False
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "nothing was changed" in response.text
    assert health.status_code == 503
    assert health.headers["retry-after"] == "30"
    assert health.json()["status"] == "unavailable"  # JSON for the prober, not a page
    assert alive.status_code == 200  # liveness: the process answers (issue 20)
    assert live.real_center.check(ALICE).allowed


def test_healthz_when_store_is_up(live: LiveSidecar) -> None:
    with live.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_concurrent_one_clicks_share_commits_and_answer_after_them(live: LiveSidecar) -> None:
    live.faults.commit_delay = 0.05  # hold each commit open so requests pile up behind it
    addresses = [f"user{n}@example.org" for n in range(40)]
    paths = [unsubscribe_path(live.real_center, address) for address in addresses]
    commits_before = live.faults.commits
    seen_at_answer: dict[int, Reason] = {}
    # An independent center (its own connection) looks the moment each 200 arrives.
    with PreferenceCenter(live.settings) as observer:

        def look(index: int, response: httpx.Response) -> None:
            seen_at_answer[index] = observer.check(addresses[index]).reason

        responses = post_many(live.url, paths, after=look)
    assert [r.status_code for r in responses] == [200] * len(paths)
    assert live.faults.commits - commits_before < len(paths)  # some requests shared a commit
    assert set(seen_at_answer.values()) == {Reason.UNSUBSCRIBED_GLOBAL}


def test_a_failed_group_commit_answers_503_to_every_request(live: LiveSidecar) -> None:
    live.faults.fail = True
    addresses = [f"user{n}@example.org" for n in range(20)]
    paths = [unsubscribe_path(live.real_center, address) for address in addresses]
    responses = post_many(live.url, paths)
    live.faults.fail = False
    assert {r.status_code for r in responses} == {503}
    assert all(live.real_center.check(address).allowed for address in addresses)


def test_a_store_that_hangs_is_503_and_the_change_still_commits(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, store_timeout="1s")
    with live_sidecar(settings) as server:
        server.faults.commit_delay = 3.0  # the commit outlasts the store timeout
        path = unsubscribe_path(server.real_center, ALICE)
        with server.client() as client:
            hung = client.post(path, content=ONE_CLICK, headers=GMAIL)
            assert hung.status_code == 503
            assert hung.headers["retry-after"] == "30"
            server.faults.commit_delay = 0.0
            # The sender retries; by then the first commit has landed, so this is a no-op.
            for _ in range(50):
                if not server.real_center.check(ALICE).allowed:
                    break
                threading.Event().wait(0.1)
            retried = client.post(path, content=ONE_CLICK, headers=GMAIL)
        assert retried.status_code == 200
        assert server.real_center.check(ALICE).reason is Reason.UNSUBSCRIBED_GLOBAL
        assert len(server.real_center.suppressions(ALICE)) == 1


# -- the preference page ----------------------------------------------------------------


def _submit(live: LiveSidecar, form: dict[str, object]) -> httpx.Response:
    """Alice's preference form as posted from her page: its CSRF token plus ``form``."""
    path = preferences_path(live.real_center, ALICE)
    with live.client() as client:
        csrf = _csrf(client.get(path).text)
        return client.post(path, data={"csrf": csrf, **form})


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match
    return match[1]


def test_preference_page_lists_configured_topics(live: LiveSidecar) -> None:
    with live.client() as client:
        response = client.get(preferences_path(live.real_center, ALICE))
    assert response.status_code == 200
    for text in ("Newsletter", "Deals and offers", "Events near you", "Discounts for members"):
        assert text in response.text
    assert response.text.count('type="checkbox"') == 3
    assert "<script" not in response.text.lower()


def test_preference_form_without_valid_csrf_is_refused(live: LiveSidecar) -> None:
    path = preferences_path(live.real_center, ALICE)
    other = preferences_path(live.real_center, "bob@example.org")
    with live.client() as client:
        other_csrf = _csrf(client.get(other).text)
        for csrf in ("", "0" * 32, other_csrf, "é" * 32):
            response = client.post(path, data={"csrf": csrf, "action": "unsubscribe_all"})
            assert response.status_code == 403
        raw = client.post(path, content=b"csrf=%FF%FE&action=save", headers={"content-type": FORM})
        assert raw.status_code == 403
    assert live.real_center.check(ALICE).allowed


def test_save_topics_frequency_and_pause(live: LiveSidecar) -> None:
    path = preferences_path(live.real_center, ALICE)
    pause = (date.today() + timedelta(days=30)).isoformat()
    with live.client() as client:
        csrf = _csrf(client.get(path).text)
        response = client.post(
            path,
            data={
                "csrf": csrf,
                "action": "save",
                "topic": ["news", "events"],
                "frequency": "7",
                "pause_until": pause,
            },
        )
        assert response.status_code == 303
        page = client.get(response.headers["location"]).text
    assert "Your choices are saved" in page
    assert re.search(r'value="deals"(?! checked)', page)
    assert re.search(r'value="news" checked', page)
    assert '<option value="7" selected>' in page
    assert f'value="{pause}"' in page
    assert not live.real_center.check(ALICE, "deals").allowed
    preferences = live.real_center.preferences(ALICE)
    assert preferences.frequency_days == 7
    assert preferences.paused_until is not None
    assert preferences.paused_until.date().isoformat() == pause
    sources = {e.source for e in live.real_center.history(ALICE)}
    assert sources == {Source.WEB}


def test_unticking_every_topic_is_not_a_global_opt_out(live: LiveSidecar) -> None:
    path = preferences_path(live.real_center, ALICE)
    with live.client() as client:
        csrf = _csrf(client.get(path).text)
        response = client.post(
            path, data={"csrf": csrf, "action": "save", "frequency": "", "shown": SHOWN}
        )
    assert response.status_code == 303
    scopes = {s.scope for s in live.real_center.suppressions(ALICE)}
    assert Scope.GLOBAL not in scopes
    for topic in ("news", "deals", "events"):
        assert not live.real_center.check(ALICE, topic).allowed


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (Source.BOUNCE, " because it could not be delivered."),
        (Source.COMPLAINT, " because a message to it was reported as spam."),
        (Source.CLI, "."),
    ],
)
def test_a_hard_stop_says_why(live: LiveSidecar, source: Source, why: str) -> None:
    live.real_center.suppress(ALICE, hard=True, reason="r", source=source, evidence="e-1")
    with live.client() as client:
        page = client.get(preferences_path(live.real_center, ALICE)).text
    today = format_date(datetime.now(UTC).date(), "long", locale="en")  # December 7, 2026
    text = " ".join(page.split())
    assert text.count(f"this address on {today}{why}</p> <p>If that was a mistake, contact") == 1


def test_a_crafted_saved_message_does_not_contradict_the_state(live: LiveSidecar) -> None:
    path = preferences_path(live.real_center, ALICE)
    with live.client() as client:
        page = client.get(path + "?saved=unsubscribe_all").text
    assert "You are unsubscribed" not in page
    assert "Save my choices" in page


def test_a_form_without_a_pressed_button_changes_nothing(live: LiveSidecar) -> None:
    """A script or a link scanner submitting the form sends no button value."""
    response = _submit(live, {})
    assert response.status_code == 422
    assert "press one of the page" in response.text
    assert live.real_center.history(ALICE) == []


def test_a_page_changes_only_the_topics_it_showed(live: LiveSidecar) -> None:
    """A page opened before "events" existed (or another tab) leaves "events" alone."""
    response = _submit(
        live,
        {"action": "save", "topic": ["news"], "shown": ["news", "deals"], "frequency": "",
         "pause_until": ""},
    )  # fmt: skip
    assert response.status_code == 303
    assert live.real_center.check(ALICE, "news").allowed
    assert not live.real_center.check(ALICE, "deals").allowed
    assert live.real_center.check(ALICE, "events").allowed


@pytest.mark.parametrize(
    "form",
    [{"pause_until": "x" * 70_000}, {"topic": [f"t{i}" for i in range(300)]}],
    ids=["large", "many-fields"],
)
def test_an_oversized_form_is_413(live: LiveSidecar, form: dict[str, object]) -> None:
    response = _submit(live, {"action": "save", **form})
    assert response.status_code == 413
    assert "Request too large" in response.text
    assert live.real_center.history(ALICE) == []


def test_bad_pause_date_is_422_and_changes_nothing(live: LiveSidecar) -> None:
    path = preferences_path(live.real_center, ALICE)
    with live.client() as client:
        csrf = _csrf(client.get(path).text)
        today = datetime.now(UTC).date()
        for pause in ("yesterday", "2001-01-01", today.isoformat()):
            response = client.post(
                path,
                data={"csrf": csrf, "action": "save", "topic": ["news"],
                      "shown": ["news", "deals"], "frequency": "7", "pause_until": pause},
            )  # fmt: skip
            assert response.status_code == 422
            # The page itself says why, and keeps what was chosen so only the date needs fixing.
            page = response.text
            assert "Nothing was saved. Pause date" in page and "pick a day after today" in page
            assert 'role="alert"' in page
            assert f'value="{html.escape(pause)}"' in page
            assert f'min="{(today + timedelta(days=1)).isoformat()}"' in page
            assert re.search(r'value="deals"(?! checked)', page)
            assert re.search(r'value="news" checked', page)
            assert re.search(r'value="events" checked', page)  # not on that form: as stored
            assert '<option value="7" selected>' in page
    assert live.real_center.history(ALICE) == []


def test_unsubscribe_all_then_resubscribe(live: LiveSidecar) -> None:
    path = preferences_path(live.real_center, ALICE)
    with live.client() as client:
        csrf = _csrf(client.get(path).text)
        response = client.post(path, data={"csrf": csrf, "action": "unsubscribe_all"})
        assert response.status_code == 303
        page = client.get(response.headers["location"]).text
        assert "You are unsubscribed from everything." in page
        assert "You unsubscribed from all email on" in page
        assert not live.real_center.check(ALICE).allowed
        response = client.post(path, data={"csrf": _csrf(page), "action": "resubscribe"})
        assert response.status_code == 303
        page = client.get(path).text
    assert "You were unsubscribed" not in page
    assert live.real_center.check(ALICE).allowed
    resubscribes = [e for e in live.real_center.history(ALICE) if e.action == Action.RESUBSCRIBE]
    assert len(resubscribes) == 1
    assert resubscribes[0].reason == "resubscribed on the preference page"
    assert resubscribes[0].source == Source.WEB


def test_a_resubscribe_the_page_did_not_offer_changes_and_records_nothing(
    live: LiveSidecar,
) -> None:
    # Alice never unsubscribed; Bob was stopped by a bounce. Neither page has the button.
    with live.real_center.transaction() as changes:
        changes.suppress("bob@example.org", hard=True, source=Source.BOUNCE, reason="5.1.1")
    for address in (ALICE, "bob@example.org"):
        path = preferences_path(live.real_center, address)
        with live.client() as client:
            page = client.get(path).text
            assert 'value="resubscribe"' not in page
            # Bob's page has no form at all; the token is computed as the server would.
            csrf = live.sidecar.app.state.sidecar.csrf_token(path.rsplit("/", 1)[1])
            response = client.post(path, data={"csrf": csrf, "action": "resubscribe"})
            assert response.status_code == 303
        history = live.real_center.history(address)
        assert Action.RESUBSCRIBE not in [event.action for event in history]
    assert not live.real_center.check("bob@example.org", kind="transactional").allowed


def test_ticking_a_topic_again_lifts_its_one_click_suppression(live: LiveSidecar) -> None:
    with live.client() as client:
        client.post(
            unsubscribe_path(live.real_center, ALICE, "deals"), content=ONE_CLICK, headers=GMAIL
        )
        path = preferences_path(live.real_center, ALICE, "deals")
        page = client.get(path).text
        assert re.search(r'value="deals"(?! checked)', page)
        response = client.post(
            path,
            data={"csrf": _csrf(page), "action": "save", "topic": ["news", "deals", "events"],
                  "frequency": "", "pause_until": "", "shown": SHOWN},
        )  # fmt: skip
        assert response.status_code == 303
        assert re.search(r'value="deals" checked', client.get(path).text)
    assert live.real_center.check(ALICE, "deals").allowed


def test_a_real_lock_on_the_database_is_503_then_recovers(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path)
    with live_sidecar(settings) as live:
        # Writers wait this long for the lock before the store gives up (StoreBusy).
        store = live.real_center.store
        assert isinstance(store, SqliteStore)
        store.busy_timeout_ms = 300
        path = unsubscribe_path(live.real_center, ALICE)
        blocker = sqlite3.connect(settings.database.removeprefix("sqlite:///"))
        try:
            blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            with live.client() as client:
                refused = client.post(path, content=ONE_CLICK, headers=GMAIL)
        finally:
            blocker.rollback()
            blocker.close()
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "30"
        assert live.real_center.check(ALICE).allowed
        with live.client() as client:
            assert client.post(path, content=ONE_CLICK, headers=GMAIL).status_code == 200
        assert not live.real_center.check(ALICE).allowed
