"""Fixtures shared by every test package: settings, stores and a real PostgreSQL.

In CI (``CI=true``) a test that needs PostgreSQL or Chromium must run: a missing
component fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefcenter.config import Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"

TEST_SECRET = "test-secret-key-0123456789abcdef"
TEST_PEPPER = "test-pepper-0123456789abcdef0123"


def skip_or_fail(reason: str) -> None:
    """Skip locally with a loud reason; fail in CI, where every component must exist."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: CI must run this test, not skip it")
    pytest.skip(f"NOT RUN: {reason} (this test runs in CI)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that need one up front)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: keys fixed, everything under ``tmp_path``, no environment read."""
    values: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path / 'prefcenter.db'}",
        "secret": TEST_SECRET,
        "pepper": TEST_PEPPER,
        "var_dir": str(tmp_path / "var"),
        "mail_domain": "unsub.example.com",
        "base_url": "https://prefs.example.com",
        "company_name": "Example News",
        # Tests send from one address far faster than any client: rate limits are off
        # unless a test sets them (tests/security/test_rate_limits.py).
        "page_rate": "off",
        "api_rate": "off",
        "api_failure_rate": "off",
        "smtp_connection_rate": "off",
        "smtp_message_rate": "off",
    }
    values.update(overrides)
    return load_settings(values, environ={}, generate_dev_keys=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite file in the test's own directory."""
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL started by pgserver for the whole session."""
    try:
        import pgserver
    except ImportError:
        skip_or_fail("pgserver is not installed")
    pgdata = tmp_path_factory.mktemp("pgdata")
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: Any, request: pytest.FixtureRequest) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    name = "t_" + request.node.name.lower().translate({ord(c): "_" for c in "[]-.:/ ,=()'\""})[:50]
    name = f"{name}_{abs(hash(request.node.nodeid)) % 100000}"
    postgres_server.psql(f"DROP DATABASE IF EXISTS {name};")
    postgres_server.psql(f"CREATE DATABASE {name};")
    uri: str = postgres_server.get_uri()  # postgresql://postgres:@/postgres?host=/tmp/...
    return uri.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A PostgreSQL of this test's own (it is stopped mid-test): URL, stop(), start()."""
    try:
        import pgserver
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]
    except ImportError:
        skip_or_fail("pgserver is not installed")
    pgdata = tmp_path / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    user = getattr(server, "system_user", None)
    socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4]
    log = pgdata / "restart.log"

    running = [True]

    def stop() -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
        running[0] = False

    def start() -> None:
        if running[0]:
            return  # starting a running server only fails and logs three pg_ctl errors
        args = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(log), "start"]
        for attempt in range(3):
            try:
                pg_ctl(args, pgdata=pgdata, user=user, timeout=30)
                running[0] = True
                return
            except subprocess.CalledProcessError as error:
                if attempt == 2:
                    shown = log.read_text()[-2000:] if log.exists() else "(no log)"
                    raise RuntimeError(
                        f"PostgreSQL did not start again: {error.stderr!r}\n{shown}"
                    ) from None
                time.sleep(1)

    try:
        yield server.get_uri(), stop, start
    finally:
        with contextlib.suppress(Exception):
            start()
        server.cleanup()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, which Playwright drives (it cannot download its own here)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--run-soak`` selects the long reliability runs (``make soak``); see tests/reliability."""
    parser.addoption("--run-soak", action="store_true", help="run tests marked soak")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``soak`` tests unless ``--run-soak`` was given."""
    if config.getoption("--run-soak"):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
