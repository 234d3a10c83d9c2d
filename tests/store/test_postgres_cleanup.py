"""No PostgreSQL outlives its test: a restarted server is stopped, and the session
check catches one left running."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import (
    STARTED_POSTGRES,
    finish_postgres,
    pgdata_outside_pytest,
    running_postmaster,
    start_postgres,
    stop_postgres,
)

pytestmark = pytest.mark.postgres


@pytest.mark.timeout(120)
def test_a_restarted_server_is_stopped_at_the_end(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    pgdata = pgdata_outside_pytest(tmp_path)
    server = start_postgres(pytestconfig, pgdata)
    user = getattr(server, "system_user", None)
    first = running_postmaster(pgdata)
    assert first is not None
    # What the outage tests do: the process pgserver started is replaced by another.
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user, timeout=60)
    second = running_postmaster(pgdata)
    assert second is not None and second != first
    try:
        finish_postgres(server, pgdata)
        assert running_postmaster(pgdata) is None
    finally:
        shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.mark.timeout(120)
def test_the_session_fails_while_a_started_server_runs(tmp_path: Path) -> None:
    import pgserver

    from tests import conftest

    pgdata = pgdata_outside_pytest(tmp_path)
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except BaseException:
        shutil.rmtree(pgdata.parent, ignore_errors=True)
        raise
    try:
        stash = pytest.Stash()
        stash[STARTED_POSTGRES] = [pgdata]
        config: Any = SimpleNamespace(stash=stash, pluginmanager=SimpleNamespace(
            get_plugin=lambda name: None))  # fmt: skip
        session: Any = SimpleNamespace(config=config, exitstatus=pytest.ExitCode.OK)
        conftest.pytest_sessionfinish(session, 0)
        assert session.exitstatus == pytest.ExitCode.TESTS_FAILED
        assert running_postmaster(pgdata) is None  # and it was stopped

        session.exitstatus = pytest.ExitCode.OK
        conftest.pytest_sessionfinish(session, 0)  # nothing running: nothing to say
        assert session.exitstatus == pytest.ExitCode.OK
    finally:
        stop_postgres(pgdata, getattr(server, "system_user", None))
        server.cleanup()
        shutil.rmtree(pgdata.parent, ignore_errors=True)
