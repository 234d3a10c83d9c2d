"""Exception notices: a webhook on a real HTTP server, mail through a real aiosmtpd relay."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from prefcenter.inbound.notify import OPENED, OVERDUE, Notice, Notifier
from tests.conftest import free_port, make_settings
from tests.inbound.webhook_receiver import Hook

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NOTICE = Notice(
    OPENED, 7, "unsubscribe", "No token and an unproven sender.", NOW, NOW + timedelta(days=2)
)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(failures=2)
    yield server
    server.close()


async def _deliver(notifier: Notifier, notice: Notice) -> None:
    notifier.submit(notice)
    for _ in range(500):
        if notifier.pending == 0:
            return
        await asyncio.sleep(0.02)
    await notifier.drain(0)


def test_webhook_is_retried_until_delivered(tmp_path: Path, hook: Hook) -> None:
    notifier = Notifier(make_settings(tmp_path, notify_webhook=hook.url), first_delay=0.01)
    asyncio.run(_deliver(notifier, NOTICE))
    assert hook.attempts == 3
    assert notifier.failures == 2
    assert hook.bodies == [
        {
            "event": "exception-opened",
            "id": 7,
            "mailbox": "unsubscribe",
            "why": "No token and an unproven sender.",
            "received_at": "2026-11-23T10:00:00+00:00",
            "due_at": "2026-11-25T10:00:00+00:00",
            "command": "prefcenter exceptions show 7",
            # Slack, Microsoft Teams and Mattermost incoming webhooks show only "text".
            "text": "prefcenter: exception #7 (unsubscribe@) needs a decision: No token and "
            "an unproven sender. Due 2026-11-25T10:00:00+00:00. "
            "Run: prefcenter exceptions show 7",
        }
    ]


class Relay:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def test_mail_is_retried_until_the_relay_answers(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path, notify_email="ops@example.com", notify_relay=f"127.0.0.1:{port}"
    )
    notifier = Notifier(settings, first_delay=0.2, max_delay=0.2)
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=port)

    async def scenario() -> None:
        notifier.submit(Notice(OVERDUE, 9, "bounces", "Unclear bounce.", NOW, NOW))
        while notifier.failures == 0:  # the relay is not listening yet
            await asyncio.sleep(0.02)
        controller.start()
        await _deliver(notifier, NOTICE)

    try:
        asyncio.run(scenario())
    finally:
        controller.stop()
    subjects = sorted(e.content.split(b"Subject: ")[1].split(b"\r\n")[0] for e in relay.envelopes)
    assert subjects == [
        b"[prefcenter] exception #7 (unsubscribe) needs a decision",
        b"[prefcenter] exception #9 (bounces) is overdue",
    ]
    envelope = relay.envelopes[0]
    assert envelope.mail_from == "<>"  # the null reverse-path
    assert envelope.rcpt_tos == ["ops@example.com"]
    assert b"Auto-Submitted: auto-generated" in envelope.content


def test_nothing_configured_sends_nothing(tmp_path: Path) -> None:
    notifier = Notifier(make_settings(tmp_path))
    assert notifier.transports == []
