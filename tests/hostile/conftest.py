"""One real ``prefcenter serve`` per module, a known starting state, and store snapshots.

Every hostile case asserts the exact answer and that nothing else changed: a snapshot
of every table of the SQLite file (read-only, row by row) is taken before and after,
and the difference must be exactly what the case allows (usually nothing).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.model import Source
from tests.reliability.server import ServerProcess, server_values, settings_for

ALICE = "alice@example.com"
BOB = "bob@example.com"

Snapshot = dict[str, Counter[tuple[Any, ...]]]


def snapshot(path: Path) -> Snapshot:
    """Every row of every table, read through a read-only connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {table: Counter(conn.execute(f'SELECT * FROM "{table}"')) for table in tables}
    finally:
        conn.close()


def delta(before: Snapshot, after: Snapshot) -> dict[str, int]:
    """Rows added (+) or removed (-) per table; tables without change are left out."""
    changes: dict[str, int] = {}
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, Counter()), after.get(table, Counter())
        added, removed = sum((new - old).values()), sum((old - new).values())
        if added:
            changes[f"+{table}"] = added
        if removed:
            changes[f"-{table}"] = removed
    return changes


@dataclass
class Hostile:
    """The running server, the test's own center on its database, and the file."""

    server: ServerProcess
    center: PreferenceCenter
    db: Path

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 20.0)
        return httpx.Client(base_url=self.server.url, follow_redirects=False, **kwargs)

    def snapshot(self) -> Snapshot:
        return snapshot(self.db)


@pytest.fixture(scope="package")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """A server with topics and an API key; Bob has opted out of ``deals`` already."""
    root = tmp_path_factory.mktemp("hostile")
    db = root / "prefcenter.db"
    values = server_values(f"sqlite:///{db}", root)
    center = PreferenceCenter(settings_for(values, root))
    center.suppress(BOB, topic="deals", reason="seed", source=Source.CLI, evidence="seed-1")
    center.record_sent(ALICE, topic="news")
    # Make every link the cases use now, so making them changes nothing later.
    for address in (ALICE, BOB):
        for topic in (None, "news", "deals"):
            center.unsubscribe_url(address, topic)
            center.preferences_url(address, topic)
    server = ServerProcess(values, root / "server.log")
    server.start()
    try:
        yield Hostile(server, center, db)
    finally:
        server.kill()
        center.close()


@pytest.fixture
def unchanged(hostile: Hostile) -> Iterator[Hostile]:
    """The case must leave every table exactly as it found it."""
    before = hostile.snapshot()
    yield hostile
    assert delta(before, hostile.snapshot()) == {}
