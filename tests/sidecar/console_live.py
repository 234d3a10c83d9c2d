"""A real operator console on 127.0.0.1: uvicorn in its own thread, a center on a temp SQLite file.

Seeded with three operators (one per role), queued mail, a few people and their
contacts, so every page has something to show.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.model import ExceptionItem, Source
from prefcenter.operators import Operators
from prefcenter.sidecar.console import ConsoleSidecar
from tests.loop_thread import LoopThread
from tests.sidecar.conftest import fast_transport, sidecar_settings

PASSWORD = "correct horse battery staple"
#: name -> role of the seeded operators.
OPERATORS = {"ada": "admin", "abe": "agent", "vic": "viewer"}
SENDER = "sam.customer@example.org"


@dataclass
class LiveConsole:
    """A running console: its base URL, the center behind it and its settings."""

    url: str
    center: PreferenceCenter
    settings: Settings
    sidecar: ConsoleSidecar
    item: ExceptionItem
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client for the console that keeps cookies and never follows redirects."""
        kwargs.setdefault("timeout", 10.0)
        client = httpx.Client(
            base_url=self.url, follow_redirects=False, transport=fast_transport(), **kwargs
        )
        self.clients.append(client)  # closed when the console stops
        return client

    def login(self, name: str, password: str = PASSWORD) -> httpx.Client:
        """A client logged in as ``name`` (the login form's own CSRF token used)."""
        client = self.client()
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"csrf": token, "name": name, "password": password})
        assert answer.status_code == 303, answer.text
        return client


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def reply_mail(sender: str = SENDER, subject: str = "Re: This week") -> bytes:
    """A person's reply asking to stop, with an HTML part and an attachment."""
    message = EmailMessage()
    message["From"] = f"Sam Customer <{sender}>"
    message["To"] = "unsubscribe@unsub.example.com"
    message["Subject"] = subject
    message["Message-ID"] = "<reply-1@example.org>"
    message.set_content("Please stop sending me these offers.\n\n> This week at Example News")
    message.add_alternative(
        '<p>Please stop <img src="https://tracker.example.net/p.gif"></p>', subtype="html"
    )
    message.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                           filename="letter.pdf")  # fmt: skip
    return message.as_bytes()


def seed(center: PreferenceCenter) -> ExceptionItem:
    """Operators, a queued reply, people with opt-outs and contacts; the reply's item."""
    operators = Operators(center)
    for name, role in OPERATORS.items():
        operators.add(name, role, PASSWORD)
    item = center.open_exception(
        mailbox="unsubscribe",
        why="free-text reply",
        raw=reply_mail(),
        summary=f"From: {SENDER} Subject: Re: This week",
        evidence="<reply-1@example.org>",
    )
    for number in range(3):
        center.record_sent("caller@example.org", sender="crm", message_id=f"<m{number}@x>")
    center.suppress("gone@example.org", source=Source.WEB, reason="unsubscribed on the page")
    # Strictly after the opt-out (a violation is a send later than it, to the millisecond:
    # on a quiet machine both calls can fall in the same one).
    late = center.now() + timedelta(milliseconds=2)
    center.record_sent("gone@example.org", sender="campaigns", message_id="<late@x>", at=late)
    center.suppress("bounced@example.org", hard=True, source=Source.BOUNCE, reason="5.1.1")
    return item


def console_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The sidecar tests' settings, with no grace: a send after an opt-out is a violation."""
    overrides.setdefault("violation_grace", "0s")
    return sidecar_settings(tmp_path, **overrides)


@contextlib.contextmanager
def live_console(settings: Settings, **options: Any) -> Iterator[LiveConsole]:
    """Start the console on 127.0.0.1:0 for ``settings``; stop it and close the center after."""
    center = PreferenceCenter(settings)
    item = seed(center)
    options.setdefault("graceful_timeout", 5)
    sidecar = ConsoleSidecar(center, settings, host="127.0.0.1", port=0, **options)
    runner = LoopThread().start()
    live: LiveConsole | None = None
    try:
        runner.call(sidecar.start(), timeout=10)
        live = LiveConsole(sidecar.url, center, settings, sidecar, item)
        yield live
    finally:
        for client in live.clients if live else []:
            client.close()
        try:
            runner.call(sidecar.stop(), timeout=30)
        finally:
            runner.close()
            center.close()
