"""Two ``prefcenter serve`` replicas on one PostgreSQL, plus the CLI writing at the same time.

Each person is changed three ways at once — a one-click POST for ``news`` to either
replica, a mailto unsubscribe for ``deals`` to either replica, and ``prefcenter
suppress --topic events`` from the CLI — so concurrent transactions touch the same
person's rows. Afterwards every person has all three opt-outs (no lost update), one
event each (no duplicate), and no client saw an error.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action
from tests.reliability.load import Request, drive, path_of
from tests.reliability.server import ServerFactory, ServerProcess, settings_for

PEOPLE = 300
CLI_BATCH = 30


def _cli_writer(server: ServerProcess, people: list[str], failures: list[str]) -> None:
    env = {k: v for k, v in server.env().items() if not k.startswith("PREFCENTER_HTTP")}
    for start in range(0, len(people), CLI_BATCH):
        batch = people[start : start + CLI_BATCH]
        done = subprocess.run(
            [sys.executable, "-m", "prefcenter", "suppress", "--topic", "events",
             "--reason", "asked by phone", *batch],
            env=env, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            failures.append(done.stderr.decode()[-500:])


@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_two_replicas_and_the_cli_lose_nothing(
    serve: ServerFactory, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = serve(postgres_url, name="replica-a")
    second = serve(postgres_url, name="replica-b")
    people = [f"replica-{number}@example.com" for number in range(PEOPLE)]
    settings = settings_for(first.values, tmp_path)
    with PreferenceCenter(settings) as center:
        for topic in ("news", "deals", "events"):
            center.register_topic(topic)
        requests = [
            Request(person, "http", path_of(center.unsubscribe_url(person, "news")))
            for person in people
        ] + [
            Request(
                person,
                "smtp",
                center.links.mailto_address(center.identity(person), "deals"),
                message_id=f"<replica-{number}@client.example.org>",
                resend=number % 10 == 0,
            )
            for number, person in enumerate(people)
        ]
    random.shuffle(requests)
    cli_order = people[:]
    random.shuffle(cli_order)
    cli_failures: list[str] = []
    tally = drive(
        requests,
        [first.url, second.url],
        [("127.0.0.1", first.smtp_port), ("127.0.0.1", second.smtp_port)],
        deadline=float("inf"),
        extra=[lambda: _cli_writer(first, cli_order, cli_failures)],
    )
    assert cli_failures == []
    assert tally.refused == []
    assert dict(tally.retries) == {}  # no error of any kind reached a client
    lost, duplicates = [], []
    with PreferenceCenter(settings) as center:
        for person in people:
            topics = Counter(s.topic for s in center.suppressions(person))
            if topics != Counter({"news": 1, "deals": 1, "events": 1}):
                lost.append((person, dict(topics)))
            events = [e for e in center.history(person) if e.action is Action.SUPPRESS]
            if len(events) != 3:
                duplicates.append((person, len(events)))
    with capsys.disabled():
        print(
            f"\nreplicas/postgres: {len(people)} people x 3 writers, acknowledged "
            f"{len(tally.acknowledged)} addresses, lost updates {len(lost)} (must be 0), "
            f"duplicate events {len(duplicates)} (must be 0)"
        )
    assert lost == []
    assert duplicates == []
    assert first.proc is not None and first.proc.poll() is None
    assert second.proc is not None and second.proc.poll() is None
    assert os.path.getsize(first.log_path) > 0
