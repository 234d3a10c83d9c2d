"""Group commit: a wait ends at the store timeout or when its client leaves, the change
still commits, and batches go to ``suppress_many`` whole."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.changes import SuppressRequest
from prefcenter.errors import StoreUnavailable
from prefcenter.inbound.inbox import Outcome, Plan, SuppressWrite
from prefcenter.model import Source
from prefcenter.sidecar.groupcommit import GroupCommitter
from prefcenter.sidecar.metrics import Metrics


class Recorder:
    """A center whose transactions record what ran in them; ``gate`` holds commits."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        #: Set when a transaction has begun (the test waits for it, never for a time).
        self.entered = threading.Event()
        self.committed: list[list[Any]] = []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        ran: list[Any] = []
        center = self

        class Transaction:
            def suppress_many(self, requests: list[SuppressRequest]) -> list[bool]:
                ran.append([request.evidence for request in requests])
                # A replayed evidence ("old...") changes nothing.
                return [not str(request.evidence).startswith("old") for request in requests]

            def note(self, what: str) -> None:
                ran.append(what)

        center.entered.set()
        yield Transaction()
        center.gate.wait(10)
        self.committed.append(ran)


def _request(evidence: str) -> SuppressRequest:
    return SuppressRequest(f"{evidence}@example.org", Source.ONE_CLICK, evidence=evidence)


def test_a_hung_commit_ends_each_wait_at_the_timeout_and_still_commits() -> None:
    center = Recorder()
    center.gate.clear()

    async def main() -> list[Any]:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), timeout=0.2)
        waits = [asyncio.create_task(committer.submit(_request(f"r{n}"))) for n in range(3)]
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
        center.gate.set()
        await committer.close()
        return outcomes

    outcomes = asyncio.run(main())
    assert [type(outcome) for outcome in outcomes] == [StoreUnavailable] * 3
    assert "did not commit within 0.2 s" in str(outcomes[0])
    assert center.committed == [[["r0", "r1", "r2"]]]  # one transaction, one call


def test_a_client_that_leaves_does_not_take_its_change_away() -> None:
    center = Recorder()
    center.gate.clear()

    async def main() -> Any:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), timeout=5)
        first = asyncio.create_task(committer.submit(_request("first")))
        assert await asyncio.to_thread(center.entered.wait, 10)  # the first batch commits
        leaving = asyncio.create_task(committer.submit(_request("leaving")))
        staying = asyncio.create_task(committer.submit(_request("staying")))
        await asyncio.sleep(0)
        leaving.cancel()
        center.gate.set()
        result = await asyncio.gather(first, staying)
        with pytest.raises(asyncio.CancelledError):
            await leaving
        await committer.close()
        return result

    assert asyncio.run(main()) == [True, True]
    assert center.committed == [[["first"]], [["leaving", "staying"]]]


def test_a_crowd_arriving_together_commits_in_two_halves_and_each_is_answered() -> None:
    # 40 clients each waiting for an answer: the first half commits while the second
    # waits, so the first half's answers can go out during the second half's commit.
    center = Recorder()

    async def main() -> list[Any]:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), timeout=5)
        waits = [asyncio.create_task(committer.submit(_request(f"r{n}"))) for n in range(40)]
        outcomes = await asyncio.gather(*waits)
        await committer.close()
        return outcomes

    assert asyncio.run(main()) == [True] * 40
    assert center.committed == [
        [[f"r{n}" for n in range(20)]],
        [[f"r{n}" for n in range(20, 40)]],
    ]


def test_a_few_arriving_together_are_not_split() -> None:
    center = Recorder()

    async def main() -> None:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), timeout=5)
        await asyncio.gather(*(committer.submit(_request(f"r{n}")) for n in range(15)))
        await committer.close()

    asyncio.run(main())
    assert center.committed == [[[f"r{n}" for n in range(15)]]]


def test_a_request_after_close_is_committed_beside_the_draining_thread() -> None:
    """close() lets its thread drain while a late request starts another: both share the
    queue, every change commits exactly once, and a thread finding it empty stops."""
    center = Recorder()
    center.gate.clear()

    async def main() -> list[Any]:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), timeout=5)
        first = asyncio.create_task(committer.submit(_request("first")))
        assert await asyncio.to_thread(center.entered.wait, 10)  # in its commit, at the gate
        queued = [asyncio.create_task(committer.submit(_request(f"q{n}"))) for n in range(20)]
        await asyncio.sleep(0)
        closing = asyncio.create_task(committer.close())
        for _ in range(1000):  # close() let go of its thread: it drains on its own
            if not committer._threads:
                break
            await asyncio.sleep(0)
        assert not committer._threads
        late = asyncio.create_task(committer.submit(_request("late")))
        for _ in range(1000):  # the late request started a second thread
            if committer._threads:
                break
            await asyncio.sleep(0)
        assert committer._threads
        center.gate.set()
        return await asyncio.gather(first, *queued, late, closing)

    outcomes = asyncio.run(main())
    assert outcomes[:22] == [True] * 22
    committed = [e for transaction in center.committed for call in transaction for e in call]
    assert sorted(committed) == sorted(["first", "late", *(f"q{n}" for n in range(20))])


def test_taking_more_than_is_queued_takes_what_there_is() -> None:
    # Two commit threads may pop from one queue (above): it can run dry mid-batch.
    committer = GroupCommitter(cast(PreferenceCenter, Recorder()), Metrics())
    committer._pending.extend([(_request("a"), None), (_request("b"), None)])  # type: ignore[list-item]
    assert [operation.evidence for operation, _ in committer._take(5)] == ["a", "b"]  # type: ignore[union-attr]


def _mail(*evidence: str, mailbox: str = "unsubscribe") -> Plan:
    """A message's plan that only suppresses: one write per evidence."""
    return Plan(
        [SuppressWrite((_request(e),), mailbox, "mailto unsubscribe", e[:4]) for e in evidence]
    )


def test_mail_that_only_suppresses_joins_one_click_in_one_suppress_many() -> None:
    center = Recorder()

    def other(tx: Any) -> Outcome:
        tx.note("exception")
        return Outcome("postmaster", "exception", "for a person")

    operations: list[Any] = [
        _request("click-1"),
        _mail("mail-1", "old-2"),  # two mailboxes: one new suppression, one replay
        _mail("old-3"),
        Plan([other]),  # not only suppressing: runs on its own, in its place
        _mail("mail-4"),
        _request("old-click"),
    ]

    async def main() -> list[Any]:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), timeout=5)
        outcomes = await asyncio.gather(*(committer.submit(op) for op in operations))
        await committer.close()
        return outcomes

    outcomes = asyncio.run(main())
    assert center.committed == [
        [["click-1", "mail-1", "old-2", "old-3"], "exception", ["mail-4", "old-click"]]
    ]
    assert outcomes[0] is True
    assert [o.action for o in outcomes[1]] == ["suppressed", "unchanged"]
    assert [o.action for o in outcomes[2]] == ["unchanged"]
    assert [o.action for o in outcomes[3]] == ["exception"]
    assert [(o.action, o.identity) for o in outcomes[4]] == [("suppressed", "mail")]
    assert outcomes[5] is False


def test_two_writers_commit_two_groups_at_once() -> None:
    # PostgreSQL's committer: the second group's transaction begins while the first
    # is still open (both wait at the barrier, which breaks unless both are inside).
    center = Recorder()
    both_inside = threading.Barrier(2, timeout=10)
    inner = center.transaction

    begun = iter(range(1000))

    @contextlib.contextmanager
    def transaction() -> Iterator[Any]:
        with inner() as tx:
            if next(begun) < 2:  # the first two groups
                both_inside.wait()
            yield tx

    center.transaction = transaction  # type: ignore[method-assign]

    started: list[threading.Thread] = []

    async def main() -> list[Any]:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), writers=2)
        waits = [committer.submit(_request(f"r{n}")) for n in range(40)]
        outcomes = await asyncio.gather(*waits)
        started.extend(committer._threads)
        await committer.close()
        return outcomes

    assert asyncio.run(main()) == [True] * 40
    assert len(started) == 2
    committed = [e for transaction in center.committed for call in transaction for e in call]
    assert sorted(committed) == sorted(f"r{n}" for n in range(40))
    assert not [thread for thread in started if thread.is_alive()]


def test_alone_one_click_groups_skip_the_transaction_mixed_ones_keep_it() -> None:
    # PostgreSQL's committer: a group of one-click suppressions only goes to the
    # center's own suppress_many (one statement there); a group with anything else
    # stays one transaction, in order.
    center = Recorder()
    alone: list[list[Any]] = []

    def suppress_many(requests: list[SuppressRequest]) -> list[bool]:
        alone.append([request.evidence for request in requests])
        return [not str(request.evidence).startswith("old") for request in requests]

    center.suppress_many = suppress_many  # type: ignore[attr-defined]

    def note(tx: Any) -> str:
        tx.note("other")
        return "noted"

    async def main(operations: list[Any]) -> list[Any]:
        committer = GroupCommitter(cast(PreferenceCenter, center), Metrics(), alone=True)
        result = await asyncio.gather(*(committer.submit(op) for op in operations))
        await committer.close()
        return result

    assert asyncio.run(main([_request("c1"), _request("old-c2")])) == [True, False]
    assert alone == [["c1", "old-c2"]] and center.committed == []
    assert asyncio.run(main([_request("c3"), note])) == [True, "noted"]
    assert center.committed == [[["c3"], "other"]]
