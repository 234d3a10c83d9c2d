"""The raw-ASGI one-click path answers exactly as the Starlette route does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from prefcenter.model import Action, Source
from prefcenter.sidecar.http.app import SidecarApp
from prefcenter.sidecar.http.connection import OneClickProtocol, protocol_class, uvicorn_is_tested
from prefcenter.sidecar.http.endpoint import OneClickFastPath
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.helpers import FORM, ONE_CLICK, unsubscribe_path

VARYING = {"date", "x-request-id"}


def _without_fast_path(live: LiveSidecar) -> None:
    """Send every request of the running app through the Starlette route from now on."""
    app = live.sidecar.app
    assert isinstance(app, SidecarApp)
    assert isinstance(app.fast_path, OneClickFastPath)
    app.fast_path = None


def _post(live: LiveSidecar, address: str, topic: str | None = None) -> httpx.Response:
    path = unsubscribe_path(live.real_center, address, topic)
    with live.client() as client:
        return client.post(path, content=ONE_CLICK, headers={"content-type": FORM})


def _comparable(
    response: httpx.Response, address: str, live: LiveSidecar, topic: str | None = None
) -> tuple[object, ...]:
    identity = live.real_center.identity(address)
    link = live.real_center.links.preferences_url(identity, topic).rsplit("/p/", 1)[1]
    assert link in response.text  # the page links to this person's preference page
    headers = sorted((k, v) for k, v in response.headers.items() if k not in VARYING)
    return response.status_code, headers, response.text.replace(link, "LINK")


@pytest.mark.parametrize("topic", [None, "news"])
def test_fast_path_and_route_give_the_same_answer_and_record(
    live: LiveSidecar, topic: str | None
) -> None:
    fast = _post(live, "fast@example.org", topic)
    _without_fast_path(live)
    routed = _post(live, "routed@example.org", topic)
    assert _comparable(fast, "fast@example.org", live, topic) == _comparable(
        routed, "routed@example.org", live, topic
    )
    for address, response in (("fast@example.org", fast), ("routed@example.org", routed)):
        [event] = live.real_center.history(address)
        assert (event.action, event.source, event.topic, event.reason) == (
            Action.SUPPRESS,
            Source.ONE_CLICK,
            topic,
            "unsubscribe link",
        )
        assert event.evidence == response.headers["x-request-id"]


def test_a_topic_only_the_store_knows_is_read_once_then_served_fast(live: LiveSidecar) -> None:
    live.real_center.register_topic("spring-sale")  # not configured: only in the store
    first = _post(live, "one@example.org", "spring-sale")
    second = _post(live, "two@example.org", "spring-sale")
    assert first.status_code == second.status_code == 200
    assert _comparable(first, "one@example.org", live, "spring-sale") == _comparable(
        second, "two@example.org", live, "spring-sale"
    )
    for address in ("one@example.org", "two@example.org"):
        assert [e.topic for e in live.real_center.history(address)] == ["spring-sale"]
    with live.client() as client:
        metrics = client.get("/metrics").text
    assert 'route="/u/{token}",method="POST",status="200"} 2' in metrics
    assert 'prefcenter_unsubscribes_total{source="one-click"} 2' in metrics


def test_with_the_connection_path_off_one_click_gives_the_same_answer(tmp_path: Path) -> None:
    """HTTP_FAST_PATH=false (or an untested uvicorn): the ASGI fast path answers alike."""
    with live_sidecar(sidecar_settings(tmp_path, http_fast_path=False)) as portable:
        assert not issubclass(portable.sidecar._config.http, OneClickProtocol)  # type: ignore[arg-type]
        plain = _post(portable, "portable@example.org")
        seen = _comparable(plain, "portable@example.org", portable)
        [event] = portable.real_center.history("portable@example.org")
        assert (event.action, event.source) == (Action.SUPPRESS, Source.ONE_CLICK)
    with live_sidecar(sidecar_settings(tmp_path / "on")) as connection:
        assert issubclass(connection.sidecar._config.http, OneClickProtocol)  # type: ignore[arg-type]
        fast = _post(connection, "portable@example.org")
        assert _comparable(fast, "portable@example.org", connection) == seen


@pytest.mark.parametrize(
    ("version", "tested"),
    [
        ("0.55.0", True),
        ("0.55.9", True),
        ("0.54.1", False),
        ("0.56.0", False),
        ("1.0", False),
        ("0.55.0rc1", True),
        ("dev", False),
    ],
)
def test_only_a_tested_uvicorn_gets_the_connection_path(version: str, tested: bool) -> None:
    assert uvicorn_is_tested(version) is tested
    chosen = protocol_class(None, 1.0, 1024, 2048, uvicorn_version=version)
    assert issubclass(chosen, OneClickProtocol) is tested
