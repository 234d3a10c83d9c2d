"""Helpers for the SMTP sidecar tests: a sidecar on its own loop thread, raw sessions.

Not a conftest (the HTTP tests own tests/sidecar/conftest.py): test_smtp.py imports
these and wraps them in fixtures.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from prefcenter.center import PreferenceCenter
from prefcenter.sidecar.smtp.server import SmtpSidecar
from tests.conftest import make_settings
from tests.inbound.mail_samples import load_sample
from tests.loop_thread import LoopThread

T = TypeVar("T")
DOMAIN = "unsub.example.com"
ALICE = "alice@example.org"
BYSTANDER = "bystander@example.net"
TIMEOUT = 15


class RunningSidecar:
    """An :class:`SmtpSidecar` serving on 127.0.0.1 from a background event loop."""

    def __init__(self, center: PreferenceCenter, **kwargs: Any) -> None:
        self.center = center
        self.runner = LoopThread()
        self.loop = self.runner.loop
        self.sidecar = SmtpSidecar(center, center.settings, **kwargs)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        """Run a coroutine on the sidecar's loop and wait for its result."""
        return self.runner.call(coroutine, timeout)

    def start(self) -> RunningSidecar:
        self.runner.start()
        self.call(self.sidecar.start())
        return self

    def stop(self) -> None:
        try:
            self.call(self.sidecar.stop(grace=5.0), timeout=30)
        finally:
            self.runner.close()

    @property
    def port(self) -> int:
        return self.sidecar.port

    def client(self) -> smtplib.SMTP:
        """A connected smtplib client that said EHLO."""
        client = smtplib.SMTP("127.0.0.1", self.port, timeout=TIMEOUT)
        client.ehlo("client.example.org")
        return client

    def send(
        self,
        raw: bytes,
        rcpts: list[str],
        mail_from: str = "sender@example.org",
    ) -> tuple[int, bytes]:
        """One transaction; the DATA reply (or the first refusal, as (code, text))."""
        with self.client() as client:
            code, text = client.mail(mail_from)
            assert code == 250, text
            for rcpt in rcpts:
                code, text = client.rcpt(rcpt)
                if code != 250:
                    return code, text
            return client.data(raw)


@contextmanager
def running(tmp_path: Path, **overrides: Any) -> Iterator[RunningSidecar]:
    """A center on a fresh SQLite file and its SMTP sidecar on an ephemeral port."""
    kwargs = {
        k: overrides.pop(k)
        for k in ("dnsfunc", "sweep_interval", "notifier", "reply_timeout")
        if k in overrides
    }
    clock = overrides.pop("clock", None)
    settings = make_settings(tmp_path, smtp="127.0.0.1:0", **overrides)
    center = PreferenceCenter(settings, clock=clock)
    server = RunningSidecar(center, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()
        center.close()


def mailto(center: PreferenceCenter, address: str = ALICE, topic: str | None = None) -> str:
    """The ``unsubscribe+TOKEN@`` address the center puts into List-Unsubscribe."""
    if topic:
        center.register_topic(topic)
    return center.links.mailto_address(center.identity(address), topic)


def verp(center: PreferenceCenter, address: str = ALICE) -> str:
    """The ``bounces+TOKEN@`` return path for ``address``."""
    return center.links.bounce_address(center.identity(address))


def token_of(address: str) -> str:
    return address.split("+", 1)[1].split("@", 1)[0]


def sample(center: PreferenceCenter, name: str, **values: str) -> bytes:
    """A sample from tests/data/mail with real tokens for ALICE filled in."""
    filled = {
        "RCPT": ALICE,
        "MAIL_DOMAIN": DOMAIN,
        "TOKEN": token_of(mailto(center)),
        "BOUNCE_TOKEN": token_of(verp(center)),
        "BYSTANDER": BYSTANDER,
    }
    filled.update(values)
    return load_sample(name, **filled)


def raw_session(port: int, commands: list[bytes], data: bytes | None = None) -> list[bytes]:
    """Speak SMTP over a plain socket, byte for byte: the replies, one per step.

    ``data`` is sent after DATA exactly as given (no line-ending repair, no dot-stuffing);
    it must end with ``\\r\\n.\\r\\n``.
    """
    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        reader = conn.makefile("rb")
        replies.append(_reply(reader))
        for command in commands:
            conn.sendall(command + b"\r\n")
            replies.append(_reply(reader))
            if command.upper() == b"DATA" and data is not None:
                conn.sendall(data)
                replies.append(_reply(reader))
        conn.sendall(b"QUIT\r\n")
    return replies


def _reply(reader: Any) -> bytes:
    lines = []
    while True:
        line = reader.readline()
        lines.append(line)
        if not line or line[3:4] != b"-":
            return b"".join(lines)
