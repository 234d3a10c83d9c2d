"""The /v1 JSON API over real HTTP: keys, every route, the document that describes them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from prefcenter.errors import ConfigError
from prefcenter.model import Source
from prefcenter.sidecar.http.app import SidecarApp
from prefcenter.sidecar.http.state import api_key_hashes
from prefcenter.tokens import Purpose
from tests.conftest import make_settings
from tests.sidecar.conftest import (
    API_KEY,
    HASHED_API_KEY,
    LiveSidecar,
    live_sidecar,
    sidecar_settings,
)

ALICE = "alice@example.org"
ROUTES = ["/v1/check", "/v1/check/batch", "/v1/links", "/v1/sends", "/v1/suppress",
          "/v1/resubscribe", "/v1/history"]  # fmt: skip
#: The GET routes (the change feed; its key checks are in test_events.py).
GET_ROUTES = ["/v1/events"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "Basic dGVzdDp0ZXN0", "Bearer", API_KEY]
)
def test_routes_need_a_configured_bearer_key(
    live: LiveSidecar, route: str, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    with live.client(headers=headers) as client:
        response = client.post(route, json={"recipient": ALICE, "reason": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["message"] == (
        "Send a configured API key as 'Authorization: Bearer KEY'."
    )


@pytest.mark.parametrize("key", [API_KEY, HASHED_API_KEY])
def test_plain_and_hashed_keys_both_work(live: LiveSidecar, key: str) -> None:
    with live.api(key) as client:
        response = client.post("/v1/check", json={"recipient": ALICE})
    assert response.status_code == 200
    assert response.json()["allowed"] is True


def test_lower_case_scheme_is_accepted(live: LiveSidecar) -> None:
    with live.client(headers={"authorization": f"bearer {API_KEY}"}) as client:
        assert client.post("/v1/check", json={"recipient": ALICE}).status_code == 200


def test_links_give_a_non_python_sender_everything_for_one_message(live: LiveSidecar) -> None:
    with live.api() as client:
        made = client.post("/v1/links", json={"recipient": "Alice@Example.org", "topic": "news"})
        bad = client.post("/v1/links", json={"recipient": "not an address"})
    assert made.status_code == 200, made.text
    body = made.json()
    center = live.real_center
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert list(body["headers"]) == ["List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"]
    url, mailto = body["headers"]["List-Unsubscribe"].split(", ")
    assert url == f"<{body['unsubscribe_url']}>"
    assert mailto.startswith(f"<mailto:{body['mailto']}?")
    # Every token names Alice (however spelled) and the topic, as the library's would.
    identity = center.identity(ALICE)
    token = body["unsubscribe_url"].rsplit("/", 1)[1]
    assert center.verify_token(token, Purpose.UNSUBSCRIBE).identity_hash == identity.hash
    assert body["preferences_url"] == center.preferences_url(ALICE, "news")
    assert body["return_path"] == center.links.bounce_address(identity)
    with live.client() as client:  # the link works: one-click unsubscribes Alice from news
        path = "/u/" + body["unsubscribe_url"].rsplit("/u/", 1)[1]
        assert client.post(path, content=b"List-Unsubscribe=One-Click").status_code == 200
    assert not center.check(ALICE, "news").allowed
    assert bad.status_code == 422
    assert "not an address" in bad.json()["error"]["message"]


@pytest.mark.parametrize("route", ["/v1/check", "/v1/check/batch", "/v1/suppress", "/v1/sends"])
def test_a_misspelled_field_is_refused_not_ignored(live: LiveSidecar, route: str) -> None:
    """``topik`` ignored would check, or suppress, all marketing instead of one topic."""
    body = {"recipient": ALICE, "recipients": [ALICE], "topik": "news"}
    if route != "/v1/check/batch":
        del body["recipients"]
    else:
        del body["recipient"]
    with live.api() as client:
        response = client.post(route, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("Field 'topik' is not one of")
    assert live.real_center.history(ALICE) == []
    assert live.real_center.store.counts()["contacts"] == 0


def test_suppress_check_history_resubscribe(live: LiveSidecar) -> None:
    with live.api() as client:
        first = client.post("/v1/suppress", json={"recipient": ALICE, "reason": "asked by phone"})
        again = client.post("/v1/suppress", json={"recipient": ALICE})
        decision = client.post("/v1/check", json={"recipient": ALICE}).json()
        refused_reason = client.post("/v1/resubscribe", json={"recipient": ALICE, "reason": "   "})
        lifted = client.post(
            "/v1/resubscribe", json={"recipient": ALICE, "reason": "customer asked again"}
        )
        history = client.post("/v1/history", json={"recipient": ALICE}).json()
    assert first.status_code == 200
    assert first.json() == {"changed": True, "request_id": first.headers["x-request-id"]}
    assert again.json()["changed"] is False
    assert decision["allowed"] is False
    assert decision["reason"] == "unsubscribed_global"
    assert decision["source"] == "api"
    assert refused_reason.status_code == 422
    assert lifted.json()["changed"] is True
    actions = [(e["action"], e["source"]) for e in history["events"]]
    assert actions == [("suppress", "api"), ("suppress", "api"), ("resubscribe", "api")]
    assert history["events"][0]["evidence"] == first.headers["x-request-id"]
    assert live.real_center.check(ALICE).allowed


def test_batch_check_sorts_recipients(live: LiveSidecar) -> None:
    live.real_center.suppress("bob@example.org", source=Source.CLI, evidence="t")
    with live.api() as client:
        response = client.post(
            "/v1/check/batch",
            json={"recipients": [ALICE, "bob@example.org", "not an address", "ALICE@example.org"]},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["sendable"] == [ALICE]
    reasons = {r["recipient"]: r["reason"] for r in body["refused"]}
    assert reasons["bob@example.org"] == "unsubscribed_global"
    assert reasons["not an address"] == "invalid"
    assert body["counts"]["sendable"] == 1


def test_record_send_lands_in_the_ledger(live: LiveSidecar) -> None:
    with live.api() as client:
        response = client.post(
            "/v1/sends",
            json={"recipient": ALICE, "topic": "news", "sender": "crm", "message_id": "<m1@x>"},
        )
    assert response.status_code == 200
    assert response.json() == {"recorded": True}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 422, "Request body is not a JSON object; send one, e.g. {\"recipient\": ...}."),
        (b"[1, 2]", 422, "Request body is not a JSON object; send one, e.g. {\"recipient\": ...}."),
        (b"{}", 422, "Field 'recipient' is missing; add it as a string."),
        (b'{"recipient": 5}', 422, "Field 'recipient' must be a string of at most 320 characters."),
        (b'{"recipient": "a@example.org", "channel": "fax"}', 422,
         "Field 'channel' must be one of email, sms, voice."),
    ],
)  # fmt: skip
def test_bad_bodies_are_422_with_a_message(
    live: LiveSidecar, body: bytes, status: int, message: str
) -> None:
    with live.api() as client:
        response = client.post("/v1/check", content=body)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message


def test_unusable_recipient_is_422(live: LiveSidecar) -> None:
    with live.api() as client:
        response = client.post("/v1/suppress", json={"recipient": "no at sign"})
    assert response.status_code == 422
    assert live.real_center.history("bob@example.org") == []


def test_store_down_is_503_json(live: LiveSidecar) -> None:
    live.faults.fail = True
    with live.api() as client:
        response = client.post("/v1/suppress", json={"recipient": ALICE})
    live.faults.fail = False
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"]["status"] == 503
    assert live.real_center.check(ALICE).allowed


def test_answers_are_never_cached_or_sniffed(live: LiveSidecar) -> None:
    # They carry identity hashes and links: no shared cache may keep one.
    with live.api() as client:
        answers = [
            client.post("/v1/check", json={"recipient": ALICE}),
            client.post("/v1/links", json={"recipient": ALICE}),
            client.post("/v1/check", json={"recipient": "not an address"}),
        ]
    with live.client() as anonymous:
        answers.append(anonymous.post("/v1/history", json={"recipient": ALICE}))
    assert [a.status_code for a in answers] == [200, 200, 422, 401]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_openapi_document_describes_every_route(live: LiveSidecar) -> None:
    with live.client() as client:
        document = client.get("/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    app = live.sidecar.app
    assert isinstance(app, SidecarApp) and app.hook_endpoint is not None
    hooks = [f"/hooks/{provider}" for provider in app.hook_endpoint.hooks.handlers]
    assert sorted(document["paths"]) == sorted([*ROUTES, *GET_ROUTES, *hooks])
    for hook in hooks:  # every scheme a hook names is declared
        for scheme in document["paths"][hook]["post"]["security"]:
            assert set(scheme) <= set(document["components"]["securitySchemes"])
    paths = {getattr(route, "path", "") for route in live.sidecar.app.routes}
    app_routes = {path for path in paths if path.startswith("/v1/")}
    assert app_routes - {"/v1/openapi.json"} == {*ROUTES, *GET_ROUTES}


def test_unknown_api_route_is_json_404(live: LiveSidecar) -> None:
    with live.api() as client:
        response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_hashed_key_entry_must_be_64_hex_digits(tmp_path: object) -> None:
    from pathlib import Path

    settings = make_settings(Path(str(tmp_path)), api_keys="sha256:abc")
    with pytest.raises(ConfigError) as caught:
        api_key_hashes(settings)
    assert str(caught.value) == (
        "Setting API_KEYS has a sha256: entry that is not 64 hex digits; "
        "write sha256: followed by the hex SHA-256 of the key."
    )


def test_one_refused_request_does_not_fail_the_others_in_its_commit(live: LiveSidecar) -> None:

    live.faults.commit_delay = 0.05  # let requests pile up into shared commits
    recipients = [f"user{n}@example.org" for n in range(12)] + ["not an address"]

    def suppress(recipient: str) -> int:
        with live.api() as client:
            return client.post("/v1/suppress", json={"recipient": recipient}).status_code

    with ThreadPoolExecutor(max_workers=len(recipients)) as pool:
        statuses = list(pool.map(suppress, recipients))
    assert statuses == [200] * 12 + [422]
    assert all(not live.real_center.check(r).allowed for r in recipients[:12])


def test_oversized_body_is_413(live: LiveSidecar) -> None:
    from prefcenter.sidecar.http.openapi import MAX_BODY

    with live.api() as client:
        response = client.post("/v1/check/batch", content=b" " * (MAX_BODY + 1))
    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        f"Request body is over {MAX_BODY} bytes; send fewer recipients."
    )


def _batch_status(live: LiveSidecar, number: int) -> int:
    """The status of one batch check of one recipient (numbered so each is distinct)."""
    with live.api() as client:
        body = {"recipients": [f"r{number}@example.org"]}
        return client.post("/v1/check/batch", json=body).status_code


def test_batch_checks_take_turns(live: LiveSidecar) -> None:
    # Each batch holds a worker thread (and the GIL) for a while: a crowd of them at
    # once would starve the pages and one-click answers, so two run and the rest wait.
    from prefcenter.sidecar.http.state import BATCH_CONCURRENCY

    running, most = [0], [0]
    lock = threading.Lock()
    real_filter = live.real_center.filter

    def slow_filter(*args: Any, **kwargs: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.2)
            return real_filter(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    live.center.filter = slow_filter  # type: ignore[method-assign]

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(lambda n: _batch_status(live, n), range(6))) == [200] * 6
    assert most[0] == BATCH_CONCURRENCY


def test_a_batch_that_waits_past_the_store_timeout_is_503(tmp_path: Path) -> None:
    # Waiting for a turn counts against STORE_TIMEOUT: a crowd of batches gets 503 and
    # Retry-After, not answers long after their clients gave up.
    settings = sidecar_settings(tmp_path, store_timeout="1s")
    with live_sidecar(settings) as live:
        real_filter = live.real_center.filter
        release = threading.Event()

        def stuck_filter(*args: Any, **kwargs: Any) -> Any:
            release.wait(10)
            return real_filter(*args, **kwargs)

        live.center.filter = stuck_filter  # type: ignore[method-assign]

        with ThreadPoolExecutor(max_workers=3) as pool:
            first = [pool.submit(_batch_status, live, n) for n in range(2)]  # both turns
            time.sleep(0.3)
            assert pool.submit(_batch_status, live, 2).result(timeout=10) == 503  # past 1 s
            release.set()
            assert [f.result(timeout=10) for f in first] == [503, 503]  # their own timeout


def test_resubscribe_hard_lifts_a_bounce_and_a_no_op_writes_no_event(live: LiveSidecar) -> None:
    with live.api() as client:
        client.post("/v1/suppress", json={"recipient": ALICE, "hard": True, "reason": "bounce"})
        plain = client.post("/v1/resubscribe", json={"recipient": ALICE, "reason": "asked"})
        wrong = client.post(
            "/v1/resubscribe", json={"recipient": ALICE, "reason": "x", "hard": "yes"}
        )
        hard = client.post(
            "/v1/resubscribe", json={"recipient": ALICE, "reason": "fixed", "hard": True}
        )
        history = client.post("/v1/history", json={"recipient": ALICE}).json()
    assert plain.status_code == 200 and plain.json()["changed"] is False
    assert wrong.status_code == 422
    assert hard.status_code == 200 and hard.json()["changed"] is True
    assert [e["action"] for e in history["events"]] == ["suppress", "resubscribe"]
    assert history["events"][1]["scope"] == "hard"
    assert live.real_center.check(ALICE, kind="transactional").allowed


def test_links_for_a_phone_number_carry_no_mail_only_fields(live: LiveSidecar) -> None:
    with live.api() as client:
        sms = client.post("/v1/links", json={"recipient": "+14155550100", "channel": "sms"})
        email = client.post("/v1/links", json={"recipient": ALICE})
    assert sms.status_code == 200
    assert sorted(sms.json()) == ["preferences_url", "unsubscribe_url"]
    assert {"headers", "mailto", "return_path"} <= set(email.json())
