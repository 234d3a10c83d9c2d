"""A mistyped DATABASE must not turn into a new, empty store that allows everyone."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from tests.cli.conftest import Prefcenter, one_error_line
from tests.conftest import TEST_PEPPER, TEST_SECRET, make_settings

NOT_CREATING = {
    "check": ["check", "alice@example.com"],
    "filter": ["filter", "list.csv"],
    "report": ["report"],
    "history": ["history", "alice@example.com"],
    "export": ["export"],
    "exceptions list": ["exceptions", "list"],
    "link": ["link", "alice@example.com"],
    "migrate": ["migrate", "--to", "sqlite:///elsewhere.db"],
    "suppress": ["suppress", "alice@example.com", "--reason", "phoned"],
    "resubscribe": ["resubscribe", "alice@example.com", "--reason", "asked"],
    "forget": ["forget", "alice@example.com"],
    "record-sent": ["record-sent", "alice@example.com"],
    "link-identities": ["link-identities", "alice@example.com", "bob@example.com"],
    "exceptions resolve": ["exceptions", "resolve", "1", "--dismiss", "--reason", "spam"],
}


@pytest.mark.parametrize("name", NOT_CREATING)
def test_commands_refuse_a_missing_store(tmp_path: Path, name: str) -> None:
    (tmp_path / "list.csv").write_text("email\nalice@example.com\n")
    typo = "sqlite:///var/prefcentre.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env["PREFCENTER_DATABASE"] = typo  # and no keys: nothing may be generated either
    result = subprocess.run(
        [sys.executable, "-m", "prefcenter", *NOT_CREATING[name]],
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


def test_serve_creates_the_store_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "new" / "prefcenter.db"
    prefcenter = Prefcenter(f"sqlite:///{path}", tmp_path)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefcenter",
            "serve",
            "--http",
            "127.0.0.1:0",
            "--smtp",
            "127.0.0.1:0",
        ],
        env=prefcenter.environment(),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # bounded: serve prints its ready line, or exits
            seen.append(line)
            if "prefcenter serving" in line:
                break
        assert any(f"created a new, empty store at {path}" in line for line in seen), seen
        assert path.exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


@pytest.mark.postgres
def test_commands_refuse_a_postgres_database_without_a_store(
    postgres_url: str, tmp_path: Path
) -> None:
    # An empty (or mistyped) database: its tables would be made, and everyone allowed.
    (tmp_path / "list.csv").write_text("email\nalice@example.com\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env["PREFCENTER_DATABASE"] = postgres_url
    for name in ("check", "suppress", "forget", "report"):
        result = subprocess.run(
            [sys.executable, "-m", "prefcenter", *NOT_CREATING[name]],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert "holds no prefcenter store (no meta table)" in line
        assert f"`prefcenter {name}` does not create one" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]  # no keys either
    import psycopg

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('meta')").fetchone() == (None,)


@pytest.mark.postgres
def test_postgres_roles_and_databases_that_cannot_work_are_one_line_exit_2(
    postgres_server: object, postgres_url: str, tmp_path: Path
) -> None:
    import psycopg

    PreferenceCenter(make_settings(tmp_path, database=postgres_url)).close()  # the store
    database = postgres_url.split("/")[3].split("?")[0]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in (
            "DROP ROLE IF EXISTS t_reader",
            "CREATE ROLE t_reader LOGIN",
            f"GRANT CONNECT ON DATABASE {database} TO t_reader",
            "GRANT USAGE ON SCHEMA public TO t_reader",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO t_reader",
        ):
            conn.execute(statement)
    reader = postgres_url.replace("postgres:@", "t_reader:@", 1)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    base.update(PREFCENTER_SECRET=TEST_SECRET, PREFCENTER_PEPPER=TEST_PEPPER)

    def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "prefcenter", *args],
            env={**base, "PREFCENTER_DATABASE": url}, cwd=tmp_path,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    # A role that may only read can check and report (opening needs no DDL) ...
    assert run(reader, "check", "alice@example.com").returncode == 0
    assert run(reader, "report").returncode == 0
    # ... and one that writes gets one line naming the privilege, not a traceback.
    refused = run(reader, "suppress", "alice@example.com", "--reason", "phoned")
    assert refused.returncode == 2
    assert "permission denied" in one_error_line(refused)
    missing = run(postgres_url.replace(f"/{database}?", "/no_such_db?"), "check", "a@example.com")
    assert missing.returncode == 2  # a retry would not help: not exit 3
    assert 'database "no_such_db" does not exist' in one_error_line(missing)
