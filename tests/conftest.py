"""Fixtures shared by every test package: settings, stores and a real PostgreSQL.

In CI (``CI=true``) a test that needs PostgreSQL or Chromium must run: a missing
component fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
        "hook_failure_rate": "off",
        "smtp_connection_rate": "off",
        "smtp_message_rate": "off",
    }
    values.update(overrides)
    return load_settings(values, environ={}, generate_dev_keys=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite file in the test's own directory."""
    return make_settings(tmp_path)


#: The data directories of every PostgreSQL this session started (checked at its end).
STARTED_POSTGRES = pytest.StashKey[list[Path]]()


def running_postmaster(pgdata: Path) -> int | None:
    """The process id of the PostgreSQL serving ``pgdata``, or None if none runs.

    Read from ``postmaster.pid``; a process id that now belongs to another program
    (reused after the server ended) does not count.
    """
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"postgres" in command else None


def stop_postgres(pgdata: Path, user: str | None) -> None:
    """Stop the PostgreSQL serving ``pgdata`` (fast shutdown), if one runs.

    pgserver's own cleanup stops only the server process it started: after a test
    restarted the server (a new process), it would leave that one running.
    """
    if running_postmaster(pgdata) is None:
        return
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    pid = running_postmaster(pgdata)
    if pid is not None:  # pg_ctl failed: end it as pg_ctl would have (SIGINT: fast)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)


def pgdata_outside_pytest(tmp_path: Path) -> Path:
    """A PostgreSQL data directory outside pytest's temporary tree.

    As root, pgserver runs PostgreSQL as its own user; every pytest session start (any
    other one on the machine too) sets ``/tmp/pytest-of-USER`` back to mode 0700, and
    initdb or a restart then fails with "Permission denied". The caller removes the
    directory's parent (named after ``tmp_path``, for the reader of a failure).
    """
    parent = Path(tempfile.mkdtemp(prefix=f"prefcenter-pg-{tmp_path.name[:30]}-"))
    parent.chmod(0o755)
    return parent / "pgdata"


def start_postgres(config: pytest.Config, pgdata: Path) -> Any:
    """A pgserver server on ``pgdata``, recorded so that the session checks it ended."""
    try:
        import pgserver
    except ImportError:
        skip_or_fail("pgserver is not installed")
    config.stash.setdefault(STARTED_POSTGRES, []).append(pgdata)
    try:
        return pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except BaseException:  # initdb or the start failed: leave no directory behind
        if pgdata.parent.name.startswith("prefcenter-pg-"):
            shutil.rmtree(pgdata.parent, ignore_errors=True)
        raise


def finish_postgres(server: Any, pgdata: Path) -> None:
    """Stop the server on ``pgdata`` whichever process serves it now, and release it."""
    server.cleanup()  # stops the process pgserver started, if that one still serves
    stop_postgres(pgdata, getattr(server, "system_user", None))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a PostgreSQL a test started is still running, and stop it.

    Servers left behind pile up on a developer's machine run after run.
    """
    left = [
        (pgdata, pid)
        for pgdata in session.config.stash.get(STARTED_POSTGRES, [])
        if (pid := running_postmaster(pgdata)) is not None
    ]
    if not left:
        return
    for pgdata, _ in left:
        stop_postgres(pgdata, "pgserver" if os.geteuid() == 0 else None)
    named = ", ".join(f"{pgdata} (pid {pid})" for pgdata, pid in left)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    text = (
        f"PostgreSQL servers started by tests were still running at the end: {named}; "
        "they are stopped now. Stop every server a test starts in its fixture's teardown "
        "(finish_postgres in tests/conftest.py)."
    )
    if reporter is not None:
        reporter.write_line(text, red=True)
    else:
        print(text, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Any]:
    """A real PostgreSQL started by pgserver for the whole session."""
    pgdata = pgdata_outside_pytest(tmp_path_factory.getbasetemp())
    server = start_postgres(pytestconfig, pgdata)
    try:
        yield server
    finally:
        finish_postgres(server, pgdata)
        shutil.rmtree(pgdata.parent, ignore_errors=True)


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
def own_postgres(
    tmp_path: Path, pytestconfig: pytest.Config
) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A PostgreSQL of this test's own (it is stopped mid-test): URL, stop(), start().

    Stopped at the end whatever the test left it in (running, stopped, restarted).
    """
    pgdata = pgdata_outside_pytest(tmp_path)
    server = start_postgres(pytestconfig, pgdata)
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

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
        finish_postgres(server, pgdata)
        shutil.rmtree(pgdata.parent, ignore_errors=True)


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
