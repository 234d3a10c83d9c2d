"""prefcenter.store.migrate: a populated SQLite store copied into a real PostgreSQL answers the same."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from prefcenter.center import PreferenceCenter
from prefcenter.cli import main
from prefcenter.config import Settings
from prefcenter.errors import MigrationError
from prefcenter.model import Source
from prefcenter.store.migrate import TABLES, migrate
from tests.conftest import make_settings

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PEOPLE = [f"person{i}@example.com" for i in range(40)] + ["+14155550100", "+14155550101"]
TOPICS = [None, "weekly", "offers"]


def _populate(settings: Settings) -> None:
    """A store with every kind of row: suppressions, choices, ledger, links, erasure, queue."""
    with PreferenceCenter(settings, clock=lambda: NOW - timedelta(days=1)) as center:
        for i, person in enumerate(PEOPLE[:40]):
            center.headers(person, "weekly")  # registers the topic digest
            if i % 7 == 0:
                center.suppress(person, reason="asked", source=Source.CLI)
            if i % 7 == 1:
                center.suppress(person, topic="offers", source=Source.ONE_CLICK, evidence=f"m{i}")
            if i % 7 == 2:
                center.suppress(person, hard=True, reason="bounce", source=Source.BOUNCE,
                                evidence=f"dsn{i}")  # fmt: skip
            if i % 7 == 3:
                center.set_frequency(person, 7, source=Source.CLI)
                center.record_sent(person, topic="weekly", at=NOW - timedelta(days=2))
            if i % 7 == 4:
                center.pause(person, NOW + timedelta(days=3), source=Source.CLI)
            if i % 7 == 5:
                center.set_topic(person, "weekly", False, source=Source.WEB, evidence=f"r{i}")
            for day in range(i % 4):
                center.record_sent(person, at=NOW - timedelta(days=day + 1), sender="news")
        center.suppress(PEOPLE[40], channel="voice", reason="do not call", source=Source.CLI)
        center.link(PEOPLE[10], PEOPLE[11], source=Source.CLI)
        center.suppress(PEOPLE[10], all_channels=True, reason="everything", source=Source.CLI)
        center.forget(PEOPLE[0], source=Source.CLI)
        center.open_exception(mailbox="unsubscribe", why="no token", raw=b"Subject: stop\r\n\r\n",
                              summary="stop", evidence="<x@y>")  # fmt: skip


def _answers(settings: Settings) -> list[object]:
    with PreferenceCenter(settings, clock=lambda: NOW) as center:
        answers: list[object] = []
        for person in PEOPLE:
            channels = ["sms", "voice"] if person.startswith("+") else ["email"]
            for channel in channels:
                for topic in TOPICS:
                    for kind in ("marketing", "transactional"):
                        answers.append(center.check(person, topic, channel=channel, kind=kind))
                answers.append(center.history(person, channel=channel))
                answers.append(center.preferences(person, channel=channel))
        answers.append(
            sorted(center.export(), key=lambda s: (s.identity_hash, s.scope, s.topic or ""))
        )
        answers.append(center.exceptions(status=None))
        return answers


def test_sqlite_to_postgres_answers_identically(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path)
    _populate(settings)
    report = migrate(settings.database, postgres_url, settings, chunk_size=7)

    assert report.counts["events"] > 30
    assert report.counts["contacts"] > 20
    assert set(report.counts) == {table for table, _ in TABLES}
    assert all(report.counts[t] > 0 for t, _ in TABLES)
    target = dataclasses.replace(settings, database=postgres_url)
    before, after = _answers(settings), _answers(target)
    assert len(before) == len(after)
    assert before == after
    blocked = sum(1 for a in before if getattr(a, "allowed", True) is False)
    assert blocked > 10  # the comparison covered refusals, not only "allowed"


def test_new_events_continue_after_the_copied_ids(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path)
    _populate(settings)
    report = migrate(settings.database, postgres_url, settings)
    target = dataclasses.replace(settings, database=postgres_url)
    with PreferenceCenter(target, clock=lambda: NOW) as center:
        center.suppress("late@example.com", source=Source.CLI, evidence=None)
        item = center.open_exception(mailbox="fbl", why="unknown format", raw=b"x")
        (event,) = center.history("late@example.com")
    assert event.id == report.counts["events"] + 1
    assert item.id == report.counts["exceptions"] + 1


def test_a_non_empty_target_is_refused_and_left_alone(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path)
    _populate(settings)
    target = dataclasses.replace(settings, database=postgres_url)
    with PreferenceCenter(target) as center:
        center.suppress("already@example.com", source=Source.CLI, evidence=None)
    with pytest.raises(
        MigrationError, match=r"already holds 1 rows in 'identities'; migrate into an empty"
    ):
        migrate(settings.database, postgres_url, settings)
    with PreferenceCenter(target) as center:
        assert len(list(center.export())) == 1


def test_same_store_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(MigrationError, match="Source and target are the same store"):
        migrate(settings.database, settings.database, settings)


def test_sqlite_to_sqlite_and_empty_source(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    PreferenceCenter(settings).close()  # an empty, initialised store
    report = migrate(settings.database, f"sqlite:///{tmp_path / 'copy.db'}", settings)
    assert report.total == 0


def test_cli_migrate_prints_counts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    _populate(settings)
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    env = {
        "PREFCENTER_SECRET": "test-secret-key-0123456789abcdef",
        "PREFCENTER_PEPPER": "test-pepper-0123456789abcdef0123",
        "PREFCENTER_VAR_DIR": str(tmp_path / "var"),
    }
    runner = CliRunner()
    result = runner.invoke(
        main, ["--database", settings.database, "migrate", "--to", copy], env=env
    )
    assert result.exit_code == 0, result.output
    assert "counts match" in result.output
    again = runner.invoke(main, ["--database", settings.database, "migrate", "--to", copy], env=env)
    assert again.exit_code == 2
    assert "already holds" in again.output
