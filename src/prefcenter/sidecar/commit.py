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
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from prefcenter.errors import StoreError, StoreUnavailable
from prefcenter.sidecar.metrics import Metrics

#: One change: receives the transaction object of ``center.transaction()``.
Operation = Callable[[Any], Any]


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

    async def submit(self, operation: Operation) -> Any:
        """Run ``operation(transaction)`` in the next group commit; return its result.

        Returns only after the transaction committed. Raises what the commit raised
        (``StoreUnavailable`` when the store cannot be written) or what the operation raised.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((operation, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        # Nobody may be left without the outcome read, or asyncio logs it as lost.
        future.add_done_callback(_consume)
        # A client that hangs up, or a store that hangs past the timeout, ends only the
        # wait: the operation stays queued (or in its batch) and may still commit, which
        # is what the person asked for; the answer is then a 503 and a retry a no-op.
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            raise StoreUnavailable(
                f"The store did not commit within {self._timeout:g} s; retry the request."
            ) from None

    async def close(self) -> None:
        """Wait until every submitted operation has been committed or failed."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            operations = [operation for operation, _ in batch]
            try:
                outcomes = await anyio.to_thread.run_sync(self._commit, operations)
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
                results = [operation(transaction) for operation in operations]
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
                result = operation(transaction)
        except Exception as error:
            return error
        finally:
            self._metrics.store_latency("commit", time.perf_counter() - started)
        self._metrics.batch(1)
        return result


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
