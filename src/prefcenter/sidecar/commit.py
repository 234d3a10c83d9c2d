"""Group commit: concurrent writes share one durable store transaction.

A commit with ``synchronous=FULL`` costs an fsync, which caps SQLite near a few
thousand commits a second. One-click POSTs arrive in bursts (a campaign lands, a
provider replays its queue), so every write that arrives while a commit is in flight
waits for the next one, and that next commit carries all of them. Nobody is answered
before the transaction holding their change has committed; when a commit fails, every
request in it gets the error (the HTTP layer answers 503 and the sender retries).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any

from prefcenter.changes import SuppressRequest
from prefcenter.errors import StoreError, StoreUnavailable
from prefcenter.sidecar.metrics import Metrics

#: One change: receives the transaction object of ``center.transaction()``. A
#: ``SuppressRequest`` is one too: consecutive ones go to ``suppress_many`` together.
Operation = Callable[[Any], Any] | SuppressRequest


class GroupCommitter:
    """Runs submitted operations in shared transactions, one commit at a time.

    Args:
        center: a ``PreferenceCenter`` (anything with ``.transaction()``).
        metrics: where commit latency and batch sizes are counted.
        max_batch: most operations in one transaction (bounds the time one commit holds
            the write lock and the work lost to one failure).
        timeout: longest wait for a commit before the caller gets ``StoreUnavailable``.
    """

    def __init__(
        self, center: Any, metrics: Metrics, *, max_batch: int = 512, timeout: float = 25.0
    ) -> None:
        self._center = center
        self._timeout = timeout
        self._metrics = metrics
        self._max_batch = max_batch
        self._pending: list[tuple[Operation, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        # (deadline, future) in submission order; every wait is ``timeout`` long, so the
        # oldest deadline comes first and one timer, set for it, watches them all.
        self._waiting: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        # One thread makes every commit: one connection, no pool to pick from. Started
        # with the first batch and ended by close(), so a stopped sidecar holds no thread.
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    async def submit(self, operation: Operation) -> Any:
        """Run ``operation(transaction)`` in the next group commit; return its result.

        Returns only after the transaction committed. Raises what the commit raised
        (``StoreUnavailable`` when the store cannot be written, or when no commit came
        within the timeout) or what the operation raised.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((operation, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        waiting = self._waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        deadline = loop.time() + self._timeout
        waiting.append((deadline, future))
        if self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._expire)
        # A client that hangs up (the future is cancelled) or a store that hangs past the
        # timeout ends only the wait: the operation stays queued (or in its batch) and may
        # still commit, which is what the person asked for; a retry is then a no-op.
        return await future

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiting = self._waiting
        while waiting and (waiting[0][0] <= now or waiting[0][1].done()):
            _, future = waiting.popleft()
            if not future.done():
                future.set_exception(
                    StoreUnavailable(
                        f"The store did not commit within {self._timeout:g} s; retry the request."
                    )
                )
        self._watchdog = loop.call_at(waiting[0][0], self._expire) if waiting else None

    async def close(self) -> None:
        """Wait until every submitted operation has been committed or failed."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._waiting.clear()
        if self._thread is not None:
            self._thread.shutdown(wait=False)  # idle: every batch has finished
            self._thread = None

    async def _drain(self) -> None:
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(1, "prefcenter-commit")
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            operations = [operation for operation, _ in batch]
            try:
                outcomes = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self._commit, operations
                )
            except BaseException as error:
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _commit(self, operations: list[Operation]) -> list[Any]:
        """Commit the batch in one transaction; isolate a failing operation if needed."""
        started = time.perf_counter()
        try:
            with self._center.transaction() as transaction:
                results = _apply(transaction, operations)
        except (StoreError, OSError):
            self._metrics.store_latency("commit", time.perf_counter() - started)
            raise
        except Exception:
            if len(operations) == 1:
                raise
            # One operation refused its input and rolled the batch back; give each its
            # own transaction so the others still commit and only that one fails.
            return [self._commit_one(operation) for operation in operations]
        self._metrics.store_latency("commit", time.perf_counter() - started)
        self._metrics.batch(len(operations))
        return results

    def _commit_one(self, operation: Operation) -> Any:
        started = time.perf_counter()
        try:
            with self._center.transaction() as transaction:
                result = _apply(transaction, [operation])[0]
        except Exception as error:
            return error
        finally:
            self._metrics.store_latency("commit", time.perf_counter() - started)
        self._metrics.batch(1)
        return result


def _apply(transaction: Any, operations: list[Operation]) -> list[Any]:
    """Every operation's result, in order; runs of ``SuppressRequest`` share one call."""
    results: list[Any] = []
    run: list[SuppressRequest] = []
    for operation in operations:
        if isinstance(operation, SuppressRequest):
            run.append(operation)
            continue
        if run:
            results += transaction.suppress_many(run)
            run = []
        results.append(operation(transaction))
    if run:
        results += transaction.suppress_many(run)
    return results
