"""GET /v1/events over real HTTP: the key, paging with the cursor, bad parameters."""

from __future__ import annotations

import pytest

from prefcenter.model import Source
from tests.sidecar.conftest import LiveSidecar

ALICE = "alice@example.org"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key"])
def test_the_feed_needs_a_key(live: LiveSidecar, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    with live.client(headers=headers) as client:
        assert client.get("/v1/events").status_code == 401


def test_a_consumer_pages_through_every_change_and_resumes(live: LiveSidecar) -> None:
    with live.api() as client:
        for n in range(5):
            assert client.post("/v1/suppress", json={"recipient": f"u{n}@example.org"}).is_success
        live.real_center.suppress(ALICE, source=Source.CLI, topic="news")
        seen: list[dict[str, object]] = []
        cursor = ""
        while True:
            response = client.get("/v1/events", params={"after": cursor, "limit": 2})
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store"
            body = response.json()
            if not body["events"]:
                assert body["cursor"] == cursor
                break
            seen += body["events"]
            cursor = body["cursor"]
        assert [e["address"] for e in seen] == [*(f"u{n}@example.org" for n in range(5)), ALICE]
        assert seen[0]["source"] == "api" and seen[-1]["topic"] == "news"
        assert len({e["id"] for e in seen}) == 6
        client.post("/v1/suppress", json={"recipient": "late@example.org"})
        more = client.get("/v1/events", params={"after": cursor}).json()["events"]
        assert [e["address"] for e in more] == ["late@example.org"]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"after": "nope"}, "was not made by this feed"),
        ({"limit": "0"}, "Page size"),
        ({"limit": "1001"}, "Page size"),
        ({"limit": "ten"}, "'limit' must be a whole number"),
        ({"since": "x"}, "'since' is not one of"),
    ],
)
def test_bad_parameters_are_named(live: LiveSidecar, params: dict[str, str], text: str) -> None:
    with live.api() as client:
        response = client.get("/v1/events", params=params)
    assert response.status_code == 422
    assert text in response.json()["error"]["message"]


def test_the_openapi_document_lists_the_feed(live: LiveSidecar) -> None:
    with live.client() as client:
        document = client.get("/v1/openapi.json").json()
    assert document["paths"]["/v1/events"]["get"]["security"] == [{"bearer": []}]
    assert "Changes" in document["components"]["schemas"]
