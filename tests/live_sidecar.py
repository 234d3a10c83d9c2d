"""A live sidecar for tests: ``prefcenter serve`` as a subprocess, plus a relay that keeps mail.

Used by the examples and the docs tests: everything runs as a user would run it, with
settings only from ``PREFCENTER_*`` variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings, load_settings
from tests.conftest import TEST_PEPPER, TEST_SECRET, free_port
from tests.dkim_keys import write_rsa_key
from tests.reliability.server import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The Standard Webhooks secret of POST /hooks/generic (examples/esp_forwarder.py signs with it).
GENERIC_SECRET = "whsec_cHJlZmNlbnRlci1leGFtcGxlLXdlYmhvb2stc2VjcmV0"
API_KEY = "live-sidecar-api-key-4Kq9"


@dataclass
class Relay:
    """An SMTP relay on loopback that keeps every message it is given."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    raw: dict[str, bytes] = field(default_factory=dict)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        self.raw[str(message["Message-ID"])] = envelope.original_content or envelope.content
        return "250 OK"


@dataclass
class Live:
    """The running sidecar and everything an example needs to reach it."""

    env: dict[str, str]
    settings: Settings
    relay: Relay
    base_url: str
    dns: dict[str, bytes]
    tmp: Path

    def run(self, *argv: str | Path, extra: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [str(a) for a in argv],
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.tmp,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def center(self, **overrides: Any) -> PreferenceCenter:
        values = {k[len("PREFCENTER_") :].lower(): v for k, v in self.env.items()
                  if k.startswith("PREFCENTER_") and k != "PREFCENTER_CLI"}  # fmt: skip
        values.update(overrides)
        return PreferenceCenter(load_settings(values, environ={}, generate_dev_keys=False))

    def file(self, name: str, lines: list[str]) -> Path:
        path = self.tmp / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@contextmanager
def running_sidecar(tmp: Path) -> Iterator[Live]:
    """Start ``prefcenter serve`` (the console script) on free loopback ports with a store
    under ``tmp``, through the one process harness (:class:`ServerProcess`)."""
    key_file, txt = write_rsa_key(tmp)
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    server = ServerProcess(
        {},
        tmp / "sidecar.log",
        command=(str(BIN / "prefcenter"),),
        extra_env={
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp),
            "PYTHONPATH": str(ROOT / "src"),
            "PREFCENTER_CLI": str(BIN / "prefcenter"),
        },
    )
    base_url = server.url
    server.values.update(
        {
            "database": f"sqlite:///{tmp / 'prefcenter.db'}",
            "secret": TEST_SECRET,
            "pepper": TEST_PEPPER,
            "var_dir": str(tmp / "var"),
            "base_url": base_url,
            "mail_domain": "unsub.example.com",
            "api_keys": API_KEY,
            "generic_webhook_secret": GENERIC_SECRET,
            "frequency_cap": "2/7d",
            "notify_relay": f"127.0.0.1:{controller.port}",
            "dkim_domain": "example.com",
            "dkim_selector": "news",
            "dkim_key_file": str(key_file),
        }
    )
    try:
        try:
            server.start(timeout=20)
        except RuntimeError as error:
            pytest.fail(f"sidecar did not start: {error}")
        env = server.env()
        settings = load_settings(dict(server.values), environ={}, generate_dev_keys=False)
        yield Live(env, settings, relay, base_url, {"news._domainkey.example.com": txt}, tmp)
    finally:
        # SIGTERM: the graceful stop the systemd unit relies on, which must exit 0.
        assert server.stop() == 0, server.logs()[-3000:]
        controller.stop()
