"""Group commit: concurrent writes share one durable store transaction.

A commit with ``synchronous=FULL`` costs an fsync, which caps SQLite near a few
thousand commits a second. One-click POSTs arrive in bursts (a campaign lands, a
provider replays its queue), so every write that arrives while a commit is in flight
waits for the next one, and that next commit carries all of them. Nobody is answered
before the transaction holding their change has committed; when a commit fails, every
request in it gets the error (the HTTP layer answers 503 and the sender retries).

Both sidecars use it: one-click POSTs and API writes submit operations, inbound mail
submits :class:`Prepared` ones, which are decided (parsed, tokens and ledger read) in the
commit thread just before their transaction opens, so a burst of mail is decided and
committed together too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from prefcenter.center import PreferenceCenter
from prefcenter.changes import Changes, SuppressRequest
from prefcenter.errors import QueueFull, StoreError, StoreUnavailable
from prefcenter.inbound.inbox import Plan
from prefcenter.sidecar.metrics import Metrics
from prefcenter.store.base import retry_conflicts

#: A change to commit: called with the transaction object of ``center.transaction()``.
Change = Callable[[Changes], Any]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A change decided in the commit thread, just before the transaction it joins.

    ``prepare`` may read the store. When it raises ``StoreUnavailable`` the whole batch
    fails at once (every later one would wait out the same timeout); any other error
    fails only this operation.
    """

    prepare: Callable[[], Change]


#: What callers submit. Consecutive ``SuppressRequest`` go to ``suppress_many`` together.
Operation = Change | SuppressRequest | Prepared


class GroupCommitter:
    """Runs submitted operations in shared transactions, one commit at a time.

    One thread makes every commit and takes the next batch as soon as a commit ends,
    without a round trip through the event loop (which, under load, has a queue of
    requests to answer first); the loop only hands results to the waiting requests.

    Args:
        center: the ``PreferenceCenter`` whose ``transaction()`` commits each batch.
        metrics: where commit latency and batch sizes are counted.
        max_batch: most operations in one transaction (bounds the time one commit holds
            the write lock and the work lost to one failure).
        timeout: longest wait for a commit before the caller gets ``StoreUnavailable``.
        writers: commit threads. One for SQLite (one writer at a time). PostgreSQL takes
            two: while one group waits for its COMMIT to reach the disk, the next group's
            statements run on another connection, and the server folds commits that
            arrive together into one WAL flush. Each group is still answered only after
            its own COMMIT.
        alone: a group of one-click suppressions only is written by ``suppress_many``
            outside a transaction, as one statement where the store can
            (``Store.suppress_alone``: PostgreSQL, one round trip instead of four).
            SQLite keeps its transaction, which hands the previous group's answers over
            just before its COMMIT.
    """

    def __init__(
        self,
        center: PreferenceCenter,
        metrics: Metrics,
        *,
        max_batch: int = 512,
        timeout: float = 25.0,
        writers: int = 1,
        alone: bool = False,
    ) -> None:
        self._center = center
        self._timeout = timeout
        self._metrics = metrics
        self._max_batch = max_batch
        self._writers = max(1, writers)
        self._alone = alone
        # Appended to by the event loop only, popped by the commit thread only: each is
        # one atomic deque operation, so the hot path takes no lock. (A lock here made
        # the loop wait whenever the commit thread held it and then the GIL.)
        self._pending: collections.deque[tuple[Operation, asyncio.Future[Any]]] = (
            collections.deque()
        )
        self._ready = threading.Condition()  # the commit threads wait here for work
        # Commit threads waiting for work: counted by each (holding ``_ready``) before it
        # looks for work one last time and waits; read by the loop after each append, so
        # one of them sees the other.
        self._idle = 0
        self._wake_scheduled = False  # the loop's own: a _wake is already on its way
        # (deadline, future) in submission order; every wait is ``timeout`` long, so the
        # oldest deadline comes first and one timer, set for it, watches them all.
        self._waiting: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        # Started with the first submit and ended by close(), so a stopped sidecar
        # holds no thread.
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, operation: Operation) -> Any:
        """Run ``operation(transaction)`` in the next group commit; return its result.

        Returns only after the transaction committed. Raises what the commit raised
        (``StoreUnavailable`` when the store cannot be written, or when no commit came
        within the timeout) or what the operation raised.
        """
        return await self.enqueue(operation)

    def enqueue(self, operation: Operation) -> asyncio.Future[Any]:
        """:meth:`submit` without the coroutine: the future that gets the result.

        Call it on the event loop. A client that hangs up (the future is cancelled) or a
        store that hangs past the timeout ends only the wait: the operation stays queued
        (or in its batch) and may still commit, which is what the person asked for; a
        retry is then a no-op.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((operation, future))
        if not self._wake_scheduled and (not self._threads or self._idle):
            # After this loop iteration: the other requests already read join the batch.
            self._wake_scheduled = True
            loop.call_soon(self._wake, loop)
        waiting = self._waiting
        while waiting and waiting[0][1].done():
            waiting.popleft()
        deadline = loop.time() + self._timeout
        waiting.append((deadline, future))
        if self._watchdog is None:
            self._watchdog = loop.call_at(deadline, self._expire)
        return future

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the commit threads, or wake one that waits for work."""
        self._wake_scheduled = False
        with self._ready:
            if not self._threads:
                if self._pending:
                    self._start(loop)
            elif self._idle:
                self._ready.notify()

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the commit threads (the lock is held)."""
        self._loop = loop
        self._threads = [
            threading.Thread(target=self._run, name="prefcenter-commit", daemon=True)
            for _ in range(self._writers)
        ]
        for thread in self._threads:
            thread.start()

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
        with self._ready:
            if not self._threads and self._pending:  # submitted, threads not started yet
                self._start(asyncio.get_running_loop())
            threads, self._threads = self._threads, []
            self._ready.notify_all()  # a thread no longer current ends once all is done
        for thread in threads:
            await asyncio.to_thread(thread.join)  # they empty the queue first
        if threads:
            await asyncio.sleep(0)  # let the last results reach their requests
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._waiting.clear()

    def _run(self) -> None:
        """The commit thread: commit what is pending, hand the results over, repeat.

        A group's results reach the loop just before the next group's COMMIT rather than
        right after their own: the loop then answers them (a burst of Python that holds
        the GIL) while this thread waits for the disk without the GIL, instead of this
        thread waiting for that burst before it can begin the next transaction. Nothing
        is answered before its own commit; when nothing else is pending, the results go
        at once.
        """
        ready = self._ready
        loop = self._loop
        me = threading.current_thread()
        assert loop is not None
        held: list[tuple[list[tuple[Operation, asyncio.Future[Any]]], list[Any]]] = []

        def hand_over() -> None:
            if held:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_deliver, *held.pop())

        while True:
            batch = self._take(self._batch_size(len(self._pending), bool(held)))
            if not batch and not held:
                with ready:
                    self._idle += 1  # first, then look: an append now sees it and wakes us
                    while not self._pending and me in self._threads:
                        ready.wait()
                    self._idle -= 1
                if not self._pending:
                    return  # closed, and nothing left
                continue
            if not batch:
                hand_over()  # nothing to commit next: answer now
                continue
            # A prepared operation whose sender is gone (a message answered 451 at its
            # deadline) is not decided for no one: the sender delivers it again.
            batch = [item for item in batch if not _abandoned(*item)]
            if not batch:
                continue
            try:
                outcomes = self._commit([operation for operation, _ in batch], hand_over)
            except BaseException as error:
                outcomes = [error] * len(batch)
            hand_over()  # if this transaction failed before its commit
            held.append((batch, outcomes))

    def _take(self, size: int) -> list[tuple[Operation, asyncio.Future[Any]]]:
        """Up to ``size`` pending operations, oldest first.

        Each pop is atomic; a commit thread that close() replaced may still be emptying
        the queue beside its successor, so the queue can run dry before ``size``.
        """
        batch: list[tuple[Operation, asyncio.Future[Any]]] = []
        pending = self._pending
        with contextlib.suppress(IndexError):
            while len(batch) < size:
                batch.append(pending.popleft())
        return batch

    def _batch_size(self, pending: int, answers_waiting: bool) -> int:
        """How many pending operations the next transaction takes.

        When no answers wait to be handed over, everyone pending arrived while the loop
        had nothing to answer, and they came together: a fixed number of clients, each
        waiting for its answer before it sends again. Taken whole, they would commit
        while the loop idles and then be answered while this thread idles, in turn. Half
        of them commit first, so their answers go out while the other half commits; from
        then on each commit overlaps the answers of the one before.
        """
        if not answers_waiting and pending >= 2 * _MIN_SPLIT:
            return min(self._max_batch, (pending + 1) // 2)
        return min(self._max_batch, pending)

    def _commit(self, operations: list[Operation], before_commit: Callable[[], None]) -> list[Any]:
        """Decide the prepared operations, then commit the batch in one transaction."""
        decided = [_decide(operation) for operation in operations]
        live = [operation for operation in decided if not isinstance(operation, Exception)]
        if len(live) == len(decided):
            return self._commit_decided(live, before_commit)
        results = iter(self._commit_decided(live, before_commit) if live else [])
        return [item if isinstance(item, Exception) else next(results) for item in decided]

    def _commit_decided(
        self, operations: list[Change | SuppressRequest], before_commit: Callable[[], None]
    ) -> list[Any]:
        """Commit in one transaction; isolate a failing operation if needed."""
        started = time.perf_counter()

        def attempt() -> list[Any]:
            if self._alone and all(isinstance(item, SuppressRequest) for item in operations):
                # Only one-click suppressions: on PostgreSQL one statement, committed on
                # its own (``Store.suppress_alone``); the answers before it are committed.
                before_commit()
                return self._center.suppress_many(cast("list[SuppressRequest]", operations))
            with self._center.transaction() as transaction:
                applied = _apply(transaction, operations)
                before_commit()
            return applied

        try:
            # Several sidecars on one PostgreSQL: a deadlock or serialization failure
            # rolls the group back; it is tried again (bounded), not answered 503.
            results = retry_conflicts(attempt)
        except QueueFull:  # the exceptions queue is full for one message, not the others
            if len(operations) == 1:
                raise
            return [self._commit_one(operation) for operation in operations]
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

    def _commit_one(self, operation: Change | SuppressRequest) -> Any:
        started = time.perf_counter()

        def attempt() -> Any:
            with self._center.transaction() as transaction:
                return _apply(transaction, [operation])[0]

        try:
            result = retry_conflicts(attempt)
        except Exception as error:
            return error
        finally:
            self._metrics.store_latency("commit", time.perf_counter() - started)
        self._metrics.batch(1)
        return result


def writers_for(center: PreferenceCenter) -> int:
    """Commit threads worth running on the center's store: SQLite has one writer at a
    time; PostgreSQL overlaps one group's COMMIT with the next group's statements."""
    return 1 if center.store.url.startswith("sqlite") else 2


def alone_for(center: PreferenceCenter) -> bool:
    """Whether one-click groups go to ``suppress_many`` outside a transaction: on
    PostgreSQL, where that is one statement committed on its own."""
    return not center.store.url.startswith("sqlite")


#: Fewer pending operations than twice this are never split (see ``_batch_size``): a
#: commit's fixed cost would outweigh the overlap.
_MIN_SPLIT = 8


def _deliver(batch: list[tuple[Operation, asyncio.Future[Any]]], outcomes: list[Any]) -> None:
    """On the event loop: give each waiting request its result or error."""
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _abandoned(operation: Operation, future: asyncio.Future[Any]) -> bool:
    return isinstance(operation, Prepared) and future.cancelled()


def _decide(operation: Operation) -> Change | SuppressRequest | Exception:
    """A prepared operation's change (or the error deciding it); others as they are."""
    if not isinstance(operation, Prepared):
        return operation
    try:
        return operation.prepare()
    except StoreUnavailable:
        raise  # the store cannot be reached: the whole batch fails now
    except Exception as error:  # a bug or a failed read: only this operation fails
        return error


def _apply(transaction: Changes, operations: list[Change | SuppressRequest]) -> list[Any]:
    """Every operation's result, in order.

    Consecutive suppressions share one ``suppress_many`` call: a ``SuppressRequest``
    (one-click) and an inbound message whose plan only suppresses (a mailto
    unsubscribe, a complaint) alike. On PostgreSQL that is a few statements for the
    whole group instead of a few per message.
    """
    results: list[Any] = [None] * len(operations)
    run: list[SuppressRequest] = []
    # (operation's index, how many of ``run`` are its, the plan to finish or None)
    owners: list[tuple[int, int, Plan | None]] = []

    def flush() -> None:
        done = transaction.suppress_many(run)
        start = 0
        for index, count, plan in owners:
            part = done[start : start + count]
            results[index] = part[0] if plan is None else plan.finish(part)
            start += count
        run.clear()
        owners.clear()

    for index, operation in enumerate(operations):
        if isinstance(operation, SuppressRequest):
            run.append(operation)
            owners.append((index, 1, None))
            continue
        if isinstance(operation, Plan):
            requests = operation.suppress_requests()
            if requests:
                run.extend(requests)
                owners.append((index, len(requests), operation))
                continue
        if run:
            flush()
        results[index] = operation(transaction)
    if run:
        flush()
    return results
