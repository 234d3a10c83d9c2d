"""A live sidecar for tests: ``prefcenter serve`` as a subprocess, plus a relay that keeps mail.

Used by the examples and the docs tests: everything runs as a user would run it, with
settings only from ``PREFCENTER_*`` variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings, load_settings
from tests.conftest import TEST_PEPPER, TEST_SECRET, free_port
from tests.dkim_keys import write_rsa_key

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
API_KEY = "examples-api-key"


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
    """Start ``prefcenter serve`` on free loopback ports with a store under ``tmp``."""
    key_file, txt = write_rsa_key(tmp)
    http_port, smtp_port = free_port(), free_port()
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    base_url = f"http://127.0.0.1:{http_port}"
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp),
        "PYTHONPATH": str(ROOT / "src"),
        "PREFCENTER_DATABASE": f"sqlite:///{tmp / 'prefcenter.db'}",
        "PREFCENTER_SECRET": TEST_SECRET,
        "PREFCENTER_PEPPER": TEST_PEPPER,
        "PREFCENTER_VAR_DIR": str(tmp / "var"),
        "PREFCENTER_BASE_URL": base_url,
        "PREFCENTER_HTTP": f"127.0.0.1:{http_port}",
        "PREFCENTER_SMTP": f"127.0.0.1:{smtp_port}",
        "PREFCENTER_MAIL_DOMAIN": "unsub.example.com",
        "PREFCENTER_API_KEYS": API_KEY,
        "PREFCENTER_FREQUENCY_CAP": "2/7d",
        "PREFCENTER_NOTIFY_RELAY": f"127.0.0.1:{controller.port}",
        "PREFCENTER_DKIM_DOMAIN": "example.com",
        "PREFCENTER_DKIM_SELECTOR": "news",
        "PREFCENTER_DKIM_KEY_FILE": str(key_file),
        "PREFCENTER_CLI": str(BIN / "prefcenter"),
    }
    log = (tmp / "sidecar.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "prefcenter"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("sidecar did not start: " + (tmp / "sidecar.log").read_text())
            time.sleep(0.1)
        settings = load_settings(
            {k[len("PREFCENTER_") :].lower(): v for k, v in env.items()
             if k.startswith("PREFCENTER_") and k != "PREFCENTER_CLI"},
            environ={}, generate_dev_keys=False,
        )  # fmt: skip
        yield Live(env, settings, relay, base_url, {"news._domainkey.example.com": txt}, tmp)
    finally:
        server.terminate()  # SIGTERM: the graceful stop the systemd unit relies on
        assert server.wait(timeout=20) == 0
        log.close()
        controller.stop()
