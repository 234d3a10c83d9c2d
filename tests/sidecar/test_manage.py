""" "Manage my preferences": a fresh link by mail, the same answer for every address."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from prefcenter.model import Source
from prefcenter.sidecar.http.manage import PER_ADDRESS, Limits
from tests.conftest import free_port
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings

KNOWN = "known@example.org"


class Relay:
    """A real SMTP relay on 127.0.0.1 that keeps what it is given and says when."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)


@pytest.fixture
def relay_and_live(tmp_path: Path) -> Iterator[tuple[Relay, LiveSidecar]]:
    port = free_port()
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    settings = sidecar_settings(tmp_path, manage_page="true", notify_relay=f"127.0.0.1:{port}")
    try:
        with live_sidecar(settings) as live:
            live.real_center.suppress(KNOWN, topic="news", source=Source.API, evidence="r-1")
            yield relay, live
    finally:
        controller.stop()


def test_a_known_address_gets_a_fresh_link_and_an_unknown_one_the_same_answer(
    relay_and_live: tuple[Relay, LiveSidecar],
) -> None:
    relay, live = relay_and_live
    with live.client() as client:
        form = client.get("/manage").text
        unknown = client.post("/manage", data={"address": "stranger@example.org"})
        known = client.post("/manage", data={"address": KNOWN}, headers={"accept-language": "de"})
        invalid = client.post("/manage", data={"address": "not an address"})
    assert '<label class="field" for="address">Your email address</label>' in form
    answer = "If we send email to that address, a link to your preferences is on its way."
    assert unknown.status_code == invalid.status_code == 200
    assert answer in unknown.text and answer in invalid.text
    assert unknown.text.replace('lang="en"', "") == invalid.text.replace('lang="en"', "")
    assert "Wenn wir an diese Adresse E-Mails senden" in known.text
    [message] = relay.wait_for(1)
    assert message["To"] == KNOWN
    assert message["Subject"] == "Ihre Einstellungen bei Example News"
    assert message["Auto-Submitted"] == "auto-replied"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    link = next(word for word in body.split() if "/p/" in word)
    assert link.endswith("?lang=de")
    with live.client() as client:
        page = client.get(link.replace(live.settings.base_url, ""))
    assert page.status_code == 200 and "Ihre E-Mail-Einstellungen" in page.text


def test_links_per_address_are_limited_with_the_same_answer(
    relay_and_live: tuple[Relay, LiveSidecar],
) -> None:
    relay, live = relay_and_live
    with live.client() as client:
        answers = [
            client.post("/manage", data={"address": KNOWN.upper()}).status_code
            for _ in range(PER_ADDRESS + 2)
        ]
    assert answers == [200] * (PER_ADDRESS + 2)
    relay.wait_for(PER_ADDRESS)
    # Another known address afterwards: its mail is the next one, none more for KNOWN.
    live.real_center.suppress("other@example.org", source=Source.API, evidence="r-2")
    with live.client() as client:
        client.post("/manage", data={"address": "other@example.org"})
    messages = relay.wait_for(PER_ADDRESS + 1)
    assert [m["To"] for m in messages] == [KNOWN] * PER_ADDRESS + ["other@example.org"]


def test_the_manage_limits_refill_over_the_hour() -> None:
    now = [0.0]
    limits = Limits()
    buckets = limits.per_address
    buckets.clock = lambda: now[0]
    assert [buckets.take("k") == 0.0 for _ in range(PER_ADDRESS + 1)] == [True] * PER_ADDRESS + [
        False
    ]
    now[0] = 3600 / PER_ADDRESS  # one token back
    assert buckets.take("k") == 0.0
    assert buckets.take("k") > 0.0
    assert buckets.take("other") == 0.0


def test_the_page_is_off_unless_configured(tmp_path: Path) -> None:
    with live_sidecar(sidecar_settings(tmp_path)) as live, live.client() as client:
        assert client.get("/manage").status_code == 404
