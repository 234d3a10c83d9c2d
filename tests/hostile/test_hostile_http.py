"""Hostile HTTP input: forged and damaged tokens, scanners, odd methods, cross-site posts.

Each case states the exact answer and that the store did not change (``unchanged``
compares every table before and after), or exactly how it changed.
"""

from __future__ import annotations

import base64

import httpx
import pytest

from prefcenter.model import Identity
from prefcenter.tokens import Purpose, TokenSigner
from tests.hostile.conftest import ALICE, BOB, Hostile, delta
from tests.reliability.server import API_KEY

ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"content-type": "application/x-www-form-urlencoded"}
RETIRED_KEY = b"a-key-that-was-rotated-out-0123456789"


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def alice_token(hostile: Hostile, topic: str | None = None) -> str:
    return token_of(hostile.center.unsubscribe_url(ALICE, topic))


def alice_identity(hostile: Hostile) -> Identity:
    return hostile.center.identity(ALICE)


def post_one_click(
    client: httpx.Client, token: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post(f"/u/{token}", content=ONE_CLICK, headers={**FORM, **(headers or {})})


def flip_bit(token: str, bit: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_token_with_any_flipped_bit_is_refused(unchanged: Hostile) -> None:
    token = alice_token(unchanged)
    raw_bits = len(base64.urlsafe_b64decode(token + "==")) * 8
    with unchanged.client() as client:
        for bit in range(0, raw_bits, 7):
            assert post_one_click(client, flip_bit(token, bit)).status_code == 400, bit


def test_truncated_token_is_refused(unchanged: Hostile) -> None:
    token = alice_token(unchanged)
    with unchanged.client() as client:
        for cut in (1, 2, 10, 41):
            assert post_one_click(client, token[:-cut]).status_code == 400


def test_token_with_extra_characters_is_refused(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        assert post_one_click(client, alice_token(unchanged) + "A").status_code == 400


def test_token_signed_with_a_rotated_out_key_is_refused(unchanged: Hostile) -> None:
    forged = TokenSigner([RETIRED_KEY]).sign(alice_identity(unchanged), None, Purpose.UNSUBSCRIBE)
    with unchanged.client() as client:
        assert post_one_click(client, forged).status_code == 400


def test_preference_token_used_as_one_click_is_refused(unchanged: Hostile) -> None:
    token = token_of(unchanged.center.preferences_url(ALICE))
    with unchanged.client() as client:
        assert post_one_click(client, token).status_code == 400


def test_bounce_token_used_as_one_click_is_refused(unchanged: Hostile) -> None:
    signer = unchanged.center.signer
    token = signer.sign(alice_identity(unchanged), None, Purpose.BOUNCE)
    with unchanged.client() as client:
        assert post_one_click(client, token).status_code == 400


def test_unsubscribe_token_opens_no_preference_page(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        assert client.get(f"/p/{alice_token(unchanged)}").status_code == 400


def test_huge_token_is_refused(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        assert post_one_click(client, "A" * 60_000).status_code == 400


def test_path_traversal_in_token_finds_nothing(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        assert post_one_click(client, "..%2F..%2Fhealthz").status_code == 404
        assert post_one_click(client, "").status_code == 404


def test_token_for_one_topic_stops_only_that_topic(hostile: Hostile) -> None:
    person = "topic-only@example.com"
    token = token_of(hostile.center.unsubscribe_url(person, "news"))
    before = hostile.snapshot()
    with hostile.client() as client:
        assert post_one_click(client, token).status_code == 200
    assert delta(before, hostile.snapshot()) == {"+events": 1, "+suppressions": 1}
    assert not hostile.center.check(person, "news").allowed
    assert hostile.center.check(person, "deals").allowed
    assert hostile.center.check(person).allowed


def test_link_scanner_get_changes_nothing(unchanged: Hostile) -> None:
    agents = ["Mozilla/5.0 (compatible; Barracuda)", "Microsoft Office/16.0", "curl/8.0"]
    with unchanged.client() as client:
        for agent in agents:
            page = client.get(f"/u/{alice_token(unchanged)}", headers={"user-agent": agent})
            assert page.status_code == 200
            assert 'method="post"' in page.text.lower()
            prefs = client.get(token_path(unchanged.center.preferences_url(ALICE)))
            assert prefs.status_code == 200
    assert unchanged.center.check(ALICE).allowed


def token_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_head_changes_nothing(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        response = client.head(f"/u/{alice_token(unchanged)}")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_not_allowed(unchanged: Hostile, method: str) -> None:
    with unchanged.client() as client:
        response = client.request(method, f"/u/{alice_token(unchanged)}", content=ONE_CLICK)
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


def test_post_without_one_click_body_asks_a_person(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        empty = client.post(f"/u/{alice_token(unchanged)}", content=b"", headers=FORM)
        other = client.post(f"/u/{alice_token(unchanged)}", content=b"a=b", headers=FORM)
    assert empty.status_code == other.status_code == 400
    assert 'method="post"' in empty.text.lower()


def test_oversized_one_click_body_is_refused(unchanged: Hostile) -> None:
    body = ONE_CLICK + b"&pad=" + b"x" * 2_000_000
    with unchanged.client() as client:
        response = client.post(f"/u/{alice_token(unchanged)}", content=body, headers=FORM)
    assert response.status_code == 400


def test_one_click_with_cookies_sets_none_and_answers_without_redirect(hostile: Hostile) -> None:
    person = "cookie-monster@example.com"
    token = token_of(hostile.center.unsubscribe_url(person))
    before = hostile.snapshot()
    with hostile.client(cookies={"session": "stolen", "csrf": "x"}) as client:
        response = post_one_click(client, token, {"origin": "https://evil.test"})
    # RFC 8058 §3.2: providers neither send cookies nor follow redirects; answer 200 itself.
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "location" not in response.headers
    assert delta(before, hostile.snapshot()) == {"+events": 1, "+suppressions": 1}


def test_preference_post_without_csrf_token_is_refused(unchanged: Hostile) -> None:
    path = token_path(unchanged.center.preferences_url(ALICE))
    with unchanged.client() as client:
        response = client.post(path, data={"action": "unsubscribe_all"})
    assert response.status_code == 403


def test_preference_post_with_another_links_csrf_token_is_refused(unchanged: Hostile) -> None:
    bob_page = token_path(unchanged.center.preferences_url(BOB))
    alice_page = token_path(unchanged.center.preferences_url(ALICE))
    with unchanged.client() as client:
        page = client.get(bob_page).text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        response = client.post(alice_page, data={"action": "unsubscribe_all", "csrf": csrf})
    assert response.status_code == 403


def test_preference_post_cross_site_with_forged_csrf_is_refused(unchanged: Hostile) -> None:
    path = token_path(unchanged.center.preferences_url(ALICE))
    headers = {"origin": "https://evil.test", "referer": "https://evil.test/form"}
    with unchanged.client() as client:
        response = client.post(
            path, data={"action": "unsubscribe_all", "csrf": "0" * 32}, headers=headers
        )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"action": "drop-table"}, 422),
        ({"action": "save", "frequency": "1; DELETE FROM events"}, 422),
        ({"action": "save", "frequency": "", "pause_until": "1999-01-01"}, 422),
    ],
)
def test_preference_post_with_bad_values_is_refused(
    unchanged: Hostile, form: dict[str, str], status: int
) -> None:
    path = token_path(unchanged.center.preferences_url(ALICE))
    with unchanged.client() as client:
        page = client.get(path).text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        response = client.post(path, data={**form, "csrf": csrf})
    assert response.status_code == status


def test_api_without_or_with_a_wrong_key_is_refused(unchanged: Hostile) -> None:
    with unchanged.client() as client:
        assert client.post("/v1/suppress", json={"recipient": ALICE}).status_code == 401
        wrong = {"authorization": "Bearer reliability-api-key-012345678X"}
        assert (
            client.post("/v1/suppress", json={"recipient": ALICE}, headers=wrong).status_code == 401
        )
        assert client.get("/v1/suppress").status_code == 405


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/check", b'{"recipient": "alice@example.com", "channel": []}'),
        ("/v1/check", b'{"recipient": "alice@example.com", "kind": {}}'),
        ("/v1/suppress", b'{"recipient": "alice@example.com", "source": ["api"]}'),
        ("/v1/check", b"[" * 200_000 + b"]" * 200_000),
        ("/v1/check", b'{"recipient": "alice@example.com", "topic": "\\ud800"}'),
        ("/v1/links", b'{"recipient": "alice@example.com", "topic": "x\\udfff"}'),
        ("/v1/check/batch", b'{"recipients": ["alice@example.com", "b\\udc80@example.com"]}'),
        ("/v1/suppress", b'{"recipient": "alice@example.com", "reason": "\\ud83d"}'),
        # A surrogate encoded as UTF-8 bytes, without any escape; and a UTF-16 body.
        ("/v1/suppress", b'{"recipient": "alice@example.com", "reason": "\xed\xa0\x80"}'),
        ("/v1/check/batch", b'{"recipients": ["b\xed\xb2\x80@example.com"]}'),
        ("/v1/check", '{"recipient": "alice@example.com"}'.encode("utf-16")),
    ],
)
def test_api_bodies_of_the_wrong_shape_are_422(unchanged: Hostile, path: str, body: bytes) -> None:
    # Valid JSON, wrong types or unpaired surrogate escapes: a clear 422, never a 500.
    auth = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    with unchanged.client() as client:
        response = client.post(path, content=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["error"]


def test_a_paired_surrogate_escape_is_a_character(hostile: Hostile) -> None:
    auth = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    # Someone of this test's own: the server and its store are shared by the package.
    body = b'{"recipient": "smiley@example.com", "reason": "\\ud83d\\ude00 thanks"}'
    with hostile.client() as client:
        assert client.post("/v1/suppress", content=body, headers=auth).status_code == 200
    [rule] = hostile.center.suppressions("smiley@example.com")
    assert rule.reason == "\U0001f600 thanks"
