"""A mistyped DATABASE must not turn into a new, empty store that allows everyone."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from tests.cli.conftest import Prefcenter, one_error_line
from tests.conftest import make_settings

READING = {
    "check": ["check", "alice@example.com"],
    "filter": ["filter", "list.csv"],
    "report": ["report"],
    "history": ["history", "alice@example.com"],
    "export": ["export"],
    "exceptions list": ["exceptions", "list"],
    "link": ["link", "alice@example.com"],
    "migrate": ["migrate", "--to", "sqlite:///elsewhere.db"],
}


@pytest.mark.parametrize("name", READING)
def test_reading_commands_refuse_a_missing_store(tmp_path: Path, name: str) -> None:
    (tmp_path / "list.csv").write_text("email\nalice@example.com\n")
    typo = "sqlite:///var/prefcentre.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env["PREFCENTER_DATABASE"] = typo  # and no keys: nothing may be generated either
    result = subprocess.run(
        [sys.executable, "-m", "prefcenter", *READING[name]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert f"Store {typo!r} does not exist" in line
    assert repr(str(tmp_path / "var" / "prefcentre.db")) in line
    assert f"relative to the working directory {tmp_path}" in line
    assert f"`prefcenter {name}` does not create one" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]  # no store, no keys


def test_a_change_creates_the_store_and_says_so(tmp_path: Path) -> None:
    prefcenter = Prefcenter(f"sqlite:///{tmp_path / 'new' / 'prefcenter.db'}", tmp_path)
    result = prefcenter("suppress", "alice@example.com", "--reason", "phoned")
    assert result.returncode == 0, result.stderr
    created = f"created a new, empty store at {tmp_path / 'new' / 'prefcenter.db'}"
    assert result.stderr.strip() == created
    again = prefcenter("check", "alice@example.com")
    assert again.returncode == 1 and again.stderr == ""


def test_the_library_logs_a_store_it_creates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="prefcenter.store"):
        PreferenceCenter(settings).close()
        PreferenceCenter(settings).close()  # opened again: nothing to say
    assert [r.getMessage() for r in caplog.records] == [
        f"created a new, empty store at {tmp_path / 'prefcenter.db'}"
    ]
