"""Four processes writing and reading overlapping identities at once: nothing is lost.

Every worker suppresses every recipient twice — once with evidence of its own, once with
evidence shared by all workers (a message delivered to four sidecars) — links pairs of
identities and opts them out person-wide, and checks each recipient right after. No
call may raise on a lock; afterwards every suppression is present and every event is
logged exactly once.
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

from prefcenter.center import PreferenceCenter
from prefcenter.model import Action, Source
from prefcenter.store.sqlite import SqliteStore
from tests.conftest import make_settings

WORKERS = 4
RECIPIENTS = [f"person{n}@example.com" for n in range(24)]


def work(database: str, directory: str, worker: int) -> list[str]:
    """One process's share; returns the problems it saw (empty when all went well)."""
    problems: list[str] = []
    start = worker * len(RECIPIENTS) // WORKERS
    order = RECIPIENTS[start:] + RECIPIENTS[:start]
    if worker % 2:
        order.reverse()
    with PreferenceCenter(make_settings(Path(directory), database=database)) as center:
        for number, recipient in enumerate(order):
            center.suppress(recipient, topic="news", source=Source.API, evidence=f"w{worker}")
            center.suppress(recipient, source=Source.MAILTO, evidence=f"shared-{recipient}")
            if center.check(recipient).allowed:
                problems.append(f"{recipient} allowed right after its suppression")
            partner = f"phone{number % 6}@example.org"
            center.link(recipient, partner, source=Source.API, evidence=f"w{worker}")
            center.suppress(partner, all_channels=True, source=Source.API, evidence=f"w{worker}")
            center.record_sent(recipient, sender=f"worker-{worker}")
    return problems


def run_workers(database: str, directory: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(work, [(database, str(directory), n) for n in range(WORKERS)])
    assert [problem for found in results for problem in found] == []
    with PreferenceCenter(make_settings(directory, database=database)) as center:
        for recipient in RECIPIENTS:
            assert center.check(recipient).reason.value == "unsubscribed_global"
            assert center.check(recipient, "news").reason.value == "unsubscribed_global"
            history = center.history(recipient)
            suppressions = [e for e in history if e.action is Action.SUPPRESS]
            shared = [e for e in suppressions if e.evidence == f"shared-{recipient}"]
            own = sorted(str(e.evidence) for e in suppressions if e.topic == "news")
            assert len(shared) == 1, recipient
            assert own == [f"w{n}" for n in range(WORKERS)], recipient
            kinds = {(s.scope.value, s.topic) for s in center.suppressions(recipient)}
            assert {("global", None), ("topic", "news")} <= kinds
        for number in range(6):
            partner = f"phone{number}@example.org"
            assert center.check(partner).reason.value == "unsubscribed_global"
        counts = center.store.counts()
        assert counts["contacts"] == WORKERS * len(RECIPIENTS)


def test_four_processes_on_sqlite(tmp_path: Path) -> None:
    run_workers(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path)


#: Processes creating one new SQLite file together, and how many times: about one round
#: in five failed at once with "database is locked" before the WAL switch waited.
OPENERS = 6
ROUNDS = 20


def open_at_once(path: str, barrier: Any, answers: Any) -> None:
    """One process: wait for the others, then open (and so create) the store."""
    barrier.wait(timeout=60)
    try:
        SqliteStore(path, fingerprint="fp").close()
        answers.put("ok")
    except Exception as error:  # reported to the test
        answers.put(repr(error))


def test_processes_creating_one_sqlite_file_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    problems: list[str] = []
    for round_number in range(ROUNDS):
        path = str(tmp_path / f"new-{round_number}.db")
        barrier = context.Barrier(OPENERS)
        answers = context.Queue()
        openers = [
            context.Process(target=open_at_once, args=(path, barrier, answers))
            for _ in range(OPENERS)
        ]
        for opener in openers:
            opener.start()
        problems += [answers.get(timeout=60) for _ in openers]
        for opener in openers:
            opener.join(timeout=60)
    assert [problem for problem in problems if problem != "ok"] == []


def test_four_processes_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    run_workers(postgres_url, tmp_path)


def test_threads_share_one_center(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with PreferenceCenter(make_settings(tmp_path)) as center:

        def thread(worker: int) -> None:
            try:
                for recipient in RECIPIENTS:
                    center.suppress(recipient, source=Source.API, evidence=f"t{worker}")
                    assert not center.check(recipient).allowed
                    center.filter(RECIPIENTS)
            except BaseException as error:  # reported below; a thread cannot fail the test
                errors.append(error)

        threads = [threading.Thread(target=thread, args=(n,)) for n in range(6)]
        for started in threads:
            started.start()
        for finished in threads:
            finished.join(timeout=60)
        assert errors == []
        assert center.store.counts()["events"] == 6 * len(RECIPIENTS)
        assert center.store.counts()["suppressions"] == len(RECIPIENTS)
