"""Run the real ``prefcenter`` command in a subprocess against a real store.

``store_url`` is parametrised: every test that uses it runs on a SQLite file and on a
fresh PostgreSQL database (pgserver). ``prefcenter`` gets its settings the way an
operator's shell would: ``PREFCENTER_*`` variables, no arguments but the command's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from tests.conftest import TEST_PEPPER, TEST_SECRET, make_settings


@dataclass
class Prefcenter:
    """The command line, bound to one store and one settings environment."""

    database: str
    tmp_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
        env.update(
            PREFCENTER_DATABASE=self.database,
            PREFCENTER_SECRET=TEST_SECRET,
            PREFCENTER_PEPPER=TEST_PEPPER,
            PREFCENTER_VAR_DIR=str(self.tmp_path / "var"),
            PREFCENTER_MAIL_DOMAIN="unsub.example.com",
            PREFCENTER_BASE_URL="https://prefs.example.com",
            # A free port: the default 127.0.0.1:8081 may be taken by a parallel run.
            PREFCENTER_CONSOLE="127.0.0.1:0",
        )
        env.update(self.env)
        env.update(extra)
        return env

    def __call__(
        self, *args: str, input: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "prefcenter", *args],
            env=self.environment(**env),
            cwd=self.tmp_path,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(self.tmp_path, database=self.database, **overrides)

    def center(self, **overrides: Any) -> PreferenceCenter:
        """An in-process center on the same store (to set up what no command makes)."""
        return PreferenceCenter(self.settings(**overrides))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prefcenter.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def prefcenter(store_url: str, tmp_path: Path) -> Prefcenter:
    """``prefcenter`` on SQLite and on PostgreSQL, the store created (as the sidecar does)."""
    return _created(Prefcenter(store_url, tmp_path))


@pytest.fixture
def prefcenter_sqlite(tmp_path: Path) -> Prefcenter:
    """``prefcenter`` on a SQLite file only (for tests about the command, not the store)."""
    return _created(Prefcenter(f"sqlite:///{tmp_path / 'prefcenter.db'}", tmp_path))


def _created(prefcenter: Prefcenter) -> Prefcenter:
    prefcenter.center().close()  # reading commands refuse a store that does not exist
    return prefcenter


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command; fails on a traceback or several lines."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]
