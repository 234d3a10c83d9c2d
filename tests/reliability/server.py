"""A ``prefcenter serve`` child process for tests: start, wait for /healthz, kill -9, restart.

The one harness for a sidecar as its own process: the reliability, hostile and privacy
suites use it, and so do the examples and docs tests (``tests/live_sidecar.py`` adds a
relay and DKIM keys around it). The server is a separate process
so that a kill -9 loses exactly what a real crash loses, and its stderr (every log line)
is kept in a file the privacy tests scan.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from prefcenter.config import Settings
from tests.conftest import TEST_PEPPER, TEST_SECRET, free_port, make_settings

MAIL_DOMAIN = "unsub.example.com"
BASE_URL = "https://prefs.example.com"
API_KEY = "reliability-api-key-0123456789"
TOPICS = "news=Newsletter;deals=Deals"


def server_values(database: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The settings a test server and the test's own center share, as plain strings."""
    values = {
        "database": database,
        "secret": TEST_SECRET,
        "pepper": TEST_PEPPER,
        "var_dir": str(tmp_path / "var"),
        "mail_domain": MAIL_DOMAIN,
        "base_url": BASE_URL,
        "company_name": "Example News",
        "api_keys": API_KEY,
        "topics": TOPICS,
        "log_level": "info",
        "max_connections_per_ip": "200",
        "max_connections": "400",
        # Load and crash tests send thousands of requests from 127.0.0.1.
        "page_rate": "off",
        "api_rate": "off",
        "api_failure_rate": "off",
        "hook_failure_rate": "off",
        "smtp_connection_rate": "off",
        "smtp_message_rate": "off",
    }
    values.update(extra)
    return values


@dataclass
class ServerProcess:
    """One ``prefcenter serve`` child process with fixed ports, restartable after a kill.

    Its stderr (every log line it writes) is appended to ``log_path`` across restarts.
    """

    values: dict[str, str]
    log_path: Path
    http_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    #: The command before ``serve``; the examples run the console script a user runs.
    command: tuple[str, ...] = (sys.executable, "-m", "prefcenter")
    #: More environment variables (not settings), such as ``PATH`` or ``HOME``.
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
        env.update({f"PREFCENTER_{k.upper()}": v for k, v in self.values.items()})
        env["PREFCENTER_HTTP"] = f"127.0.0.1:{self.http_port}"
        env["PREFCENTER_SMTP"] = f"127.0.0.1:{self.smtp_port}"
        env["PREFCENTER_CONSOLE"] = ""  # off: these runs exercise the public sidecars
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0, *, healthy: bool = True) -> None:
        """Start the process; return once /healthz answers 200 (or, unless ``healthy``, any answer)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.command, "serve"],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.log_path.parent,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prefcenter serve exited with {self.proc.returncode}:\n{self.logs()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(self.url + "/healthz", timeout=2).status_code
                if (status == 200 or not healthy) and self._smtp_ready():
                    return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"prefcenter serve not healthy in {timeout} s:\n{self.logs()[-3000:]}")

    def _smtp_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush, in-flight requests cut off."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def stop(self) -> int | None:
        """SIGTERM and wait (kill -9 after 15 s); the exit status, None if never started."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode

    def restart(self) -> None:
        self.kill()
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""


def settings_for(values: dict[str, str], tmp_path: Path) -> Settings:
    """Settings for the test's own ``PreferenceCenter`` on the server's database."""
    overrides: dict[str, Any] = dict(values)
    return make_settings(tmp_path, **overrides)


#: ``serve(database_url, *, name="server", start=True, **settings) -> ServerProcess``
ServerFactory = Callable[..., ServerProcess]
