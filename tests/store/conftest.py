"""Fixtures for the store contract: the same tests on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prefcenter.center import PreferenceCenter
from tests.conftest import make_settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_center(
    database: str, tmp_path: Path, clock: Clock
) -> Iterator[Callable[..., PreferenceCenter]]:
    """Open centers on this test's database (closed at the end)."""
    opened: list[PreferenceCenter] = []

    def factory(**overrides: Any) -> PreferenceCenter:
        center = PreferenceCenter(
            make_settings(tmp_path, database=database, **overrides), clock=clock
        )
        opened.append(center)
        return center

    yield factory
    for center in opened:
        center.close()


@pytest.fixture
def center(open_center: Callable[..., PreferenceCenter]) -> PreferenceCenter:
    """A center on this test's database with default settings and the test clock."""
    return open_center()
