"""`prefcenter serve` as a real subprocess: start, wait for /healthz, kill -9, restart.

The reliability suite proves "200/250 only after commit" the hard way: the server is a
separate process that is killed without warning, and a fresh ``PreferenceCenter`` on the
same database counts what survived. ``soak`` tests are deselected unless ``--run-soak``
is given (the option itself lives in ``tests/conftest.py``, where pytest must find it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.server import ServerFactory, ServerProcess, server_values


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``soak`` tests unless ``--run-soak`` was given."""
    if config.getoption("--run-soak", default=False):
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("soak") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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
