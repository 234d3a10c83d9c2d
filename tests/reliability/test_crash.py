"""Crash test: kill -9 the server at random moments under load; nothing acknowledged is lost.

One-click POSTs and SMTP unsubscribes run concurrently against a real ``prefcenter serve``
process while a killer thread kill -9s it and restarts it. Clients retry like real
senders. Afterwards a fresh ``PreferenceCenter`` on the same database must find every
request that was answered 200/250 exactly once, and a mail re-sent with the same
Message-ID must not have a second audit event. The fast version runs in ``make test``;
the ``soak`` version (``make soak``) uses bigger counts and prints the tally.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from tests.reliability.load import Killer, Tally, audit, drive, make_requests
from tests.reliability.server import ServerFactory, settings_for


def crash_run(
    serve: ServerFactory,
    database: str,
    tmp_path: Path,
    *,
    http_count: int,
    smtp_count: int,
    minimum_kills: int,
    maximum_kills: int,
    budget: float,
    label: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = serve(database)
    settings = settings_for(server.values, tmp_path)
    with PreferenceCenter(settings) as center:
        requests = make_requests(center, "crash", http_count, smtp_count)
    tally = Tally()
    # The kills follow the load's progress (acknowledged requests), never the clock.
    kills = random.randint(minimum_kills, maximum_kills)
    killer = Killer([server], tally, total=len(requests), kills=kills)
    killing = threading.Thread(target=killer.run)
    killing.start()
    started = time.monotonic()
    try:
        drive(
            requests,
            [server.url],
            [("127.0.0.1", server.smtp_port)],
            deadline=started + budget,
            tally=tally,
        )
    finally:
        killer.done.set()
        killing.join(60)
    assert not killer.errors, killer.errors
    server.kill()  # the last word: whatever the process had in flight is gone
    with PreferenceCenter(settings) as center:
        result = audit(center, requests, tally)
    with capsys.disabled():
        print(
            f"\n{result.line(label)}; kill -9 {killer.kills} times at "
            f"{killer.acknowledged_at_kill} acknowledged, down {killer.downtime:.1f} s, "
            f"retries {dict(tally.retries)}, {time.monotonic() - started:.1f} s"
        )
    # Every kill came while requests were still unacknowledged, i.e. under load.
    assert killer.kills == kills >= minimum_kills
    assert all(count < len(requests) for count in killer.acknowledged_at_kill)
    assert tally.refused == []
    assert result.lost == []
    assert result.duplicates == []
    assert result.resent_duplicates == []
    assert result.found == result.acknowledged == len(requests)
    assert len(tally.resent) >= smtp_count // 20


@pytest.mark.timeout(600)
def test_kill_9_under_load_sqlite(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crash_run(
        serve, sqlite_url, tmp_path, http_count=2000, smtp_count=2000, minimum_kills=5, maximum_kills=7,
        budget=400, label="crash/sqlite", capsys=capsys,
    )  # fmt: skip


@pytest.mark.timeout(600)
@pytest.mark.postgres
def test_kill_9_under_load_postgres(
    serve: ServerFactory, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crash_run(
        serve, postgres_url, tmp_path, http_count=2000, smtp_count=2000, minimum_kills=5, maximum_kills=7,
        budget=400, label="crash/postgres", capsys=capsys,
    )  # fmt: skip


@pytest.mark.timeout(3600)
@pytest.mark.soak
def test_soak_kill_9_sqlite(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crash_run(
        serve, sqlite_url, tmp_path, http_count=20000, smtp_count=20000, minimum_kills=25, maximum_kills=30,
        budget=1800, label="soak crash/sqlite", capsys=capsys,
    )  # fmt: skip


@pytest.mark.timeout(3600)
@pytest.mark.soak
@pytest.mark.postgres
def test_soak_kill_9_postgres(
    serve: ServerFactory, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crash_run(
        serve, postgres_url, tmp_path, http_count=20000, smtp_count=20000, minimum_kills=25, maximum_kills=30,
        budget=1800, label="soak crash/postgres", capsys=capsys,
    )  # fmt: skip
