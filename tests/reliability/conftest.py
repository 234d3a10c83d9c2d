"""`prefcenter serve` as a real subprocess: start, wait for /healthz, kill -9, restart.

The reliability suite proves "200/250 only after commit" the hard way: the server is a
separate process that is killed without warning, and a fresh ``PreferenceCenter`` on the
same database counts what survived. ``soak`` tests are deselected unless ``--run-soak``
is given (the option and the deselection live in ``tests/conftest.py``, where pytest
finds them whatever paths it is given).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.server import ServerFactory, ServerProcess, server_values


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start ``prefcenter serve`` processes: ``serve(database_url, **settings)``; all are
    killed when the test ends."""
    servers: list[ServerProcess] = []

    def start(
        database: str, *, name: str = "server", start: bool = True, **extra: str
    ) -> ServerProcess:
        server = ServerProcess(
            server_values(database, tmp_path, **extra), tmp_path / f"{name}-{len(servers)}.log"
        )
        servers.append(server)
        if start:
            server.start()
        return server

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'prefcenter.db'}"
