"""Batch commit for inbound mail: decide and commit concurrent messages together.

A commit costs an fsync, and each hop between the event loop and a worker thread costs
a wake-up on both sides. Messages that arrive while a batch is being committed wait for
the next batch; one worker thread then decides all of them (parsing, token checks,
ledger reads) and commits everything they cause in one transaction. Each sender is
answered only after the transaction holding its message committed. When the commit
fails because of the store, or the store cannot be reached while deciding, every message
in the batch fails (451, the senders retry); when one message's changes raise anything
else, each message is retried in its own transaction so one bad message cannot fail the
others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from prefcenter.errors import StoreError, StoreUnavailable
from prefcenter.inbound.inbox import Outcome, Plan

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter

#: Produces a message's plan; runs in the worker thread (a prepared plan or a decision).
Job = Callable[[], Plan]


class MailCommitter:
    """Runs submitted jobs in batches: one thread hop and one transaction per batch.

    Args:
        center: the PreferenceCenter whose ``transaction()`` commits a batch.
        executor: the worker threads.
        max_batch: most messages in one transaction.
    """

    def __init__(self, center: PreferenceCenter, executor: Executor, *, max_batch: int = 256):
        self.center = center
        self.executor = executor
        self.max_batch = max_batch
        self._pending: list[tuple[Job, asyncio.Future[list[Outcome]]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0

    async def submit(self, job: Job) -> list[Outcome]:
        """Decide and commit one message; return its outcomes after the commit.

        Raises:
            What deciding or committing raised; then nothing of this message is stored.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        entry = (job, future)
        self._pending.append(entry)
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        try:
            # shield: a client hanging up does not cancel a commit other messages share.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The sender is gone or was answered 451 (reply deadline): a message that
            # no batch has taken yet is withdrawn, so nobody decides it for no one; one
            # already in a batch may still commit, which a re-delivery finds unchanged.
            if entry in self._pending:
                self._pending.remove(entry)
                future.cancel()
            else:
                future.add_done_callback(_retrieve)
            raise

    async def close(self) -> None:
        """Wait until every submitted message is committed or failed."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            jobs = [job for job, _ in batch]
            try:
                results = await loop.run_in_executor(self.executor, self._run, jobs)
            except BaseException as error:  # the store failed: every message gets it
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _run(self, jobs: list[Job]) -> list[Any]:
        plans: list[Any] = []
        for number, job in enumerate(jobs):
            try:
                plans.append(job())
            except StoreUnavailable as error:
                # The store cannot be reached: every later message would wait out the
                # same store timeout in turn and fail anyway, so the whole batch fails
                # now and each sender gets its 451 within one timeout, not one per message.
                plans.append(error)
                plans.extend([error] * (len(jobs) - number - 1))
                return plans
            except Exception as error:  # a bug or a failed read: only this message fails
                plans.append(error)
        live = [plan for plan in plans if isinstance(plan, Plan)]
        if not live:
            return plans
        try:
            with self.center.transaction() as tx:
                done = {id(plan): plan(tx) for plan in live}
        except (StoreError, OSError):
            raise
        except Exception:
            if len(live) == 1:
                return [
                    RuntimeError("deciding the message failed") if p is live[0] else p
                    for p in plans
                ]
            return [self._one(plan) if isinstance(plan, Plan) else plan for plan in plans]
        self.batches += 1
        return [done[id(plan)] if isinstance(plan, Plan) else plan for plan in plans]

    def _one(self, plan: Plan) -> Any:
        try:
            with self.center.transaction() as tx:
                return plan(tx)
        except Exception as error:
            return error


def _retrieve(future: asyncio.Future[list[Outcome]]) -> None:
    # Nobody awaits this result any more: take its exception so asyncio does not log
    # "Future exception was never retrieved".
    if not future.cancelled():
        future.exception()
