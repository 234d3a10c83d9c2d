"""Hashing a list's addresses, and deciding most of them, in a second process.

Keyed BLAKE2b costs about a microsecond a row from Python and duplicate detection about
half that; neither needs the store. So a screen of a large list may fork one worker that
hashes each chunk and finishes it (the screen says how: find the repeats, and look the
people up in the screen's in-memory index when it has one, or ask the store on a
connection of the worker's own when it has none), in order, while the main process
reads and writes. Whenever the worker is :data:`DEPTH` chunks behind, the main
process hashes the next chunk itself and sends only the hashes, so the two cores share
the work whatever else the machine is doing. The worker holds the only copy of what
finishing remembers (who was seen), so every chunk passes through it; if it dies, the
screen cannot go on and raises :class:`WorkerFailed`.

The worker is forked, so it inherits the pepper: no secret is passed, only addresses
or hashes (marshalled). Chunks and answers travel through memory the two processes
share, in slots, and the pipes carry only which slot is ready: neither process waits on
a full pipe, so neither can stall the other. A chunk too large for a slot goes through
the pipe with the worker otherwise idle. The worker inherits no store connection (the
screen closes them before the fork); what ``finish`` asks of the store goes through
connections the worker opens itself.
"""

from __future__ import annotations

import marshal
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from prefcenter.errors import WorkerFailed

if TYPE_CHECKING:
    import mmap
    from multiprocessing.connection import Connection

#: Chunks of addresses the worker may hold; past this the main process hashes.
DEPTH = 2
#: Slots each way: chunks the main process hashed itself also wait in the worker's
#: queue (for duplicate detection), so there are more slots than :data:`DEPTH`.
SLOTS = 2 * DEPTH
#: Bytes per slot. A block of the CSV reader (a million characters) fits with room.
SLOT = 8 << 20

Hasher = Callable[[list[str]], list["bytes | None"]]
#: What the worker does with a chunk's hashes, in order, told whether it hashed them
#: itself (or the main process did); its answer must marshal.
Finisher = Callable[[list["bytes | None"], bool], Any]
T = TypeVar("T")

_VALUES, _HASHES = b"V", b"H"  # what a task carries
_IN_SLOT, _INLINE, _FAILED = b"S", b"I", b"F"  # where a task or answer is


def can_fork_worker() -> bool:
    """Whether a worker helps and is safe here: Linux (where fork is the default and
    sound), more than one usable core, and no other thread in this process (forking a
    threaded process can copy a lock in a held state)."""
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    return len(os.sched_getaffinity(0)) > 1


class HashWorker:
    """One forked process that hashes chunks and finishes them, answering in order.

    ``finish`` runs in the worker on each chunk's hashes, in order, with whatever state
    it had when the worker started (a fork); from then on, every chunk of the list must
    go through :meth:`send_values` or :meth:`send_hashes`. ``close`` runs in the worker
    when the input ends.
    """

    def __init__(self, hashes: Hasher, finish: Finisher, close: Callable[[], None]) -> None:
        import mmap  # only a large list's screen needs these
        import multiprocessing

        # Anonymous maps are shared with the forked child (MAP_SHARED).
        self._tasks_memory = mmap.mmap(-1, SLOTS * SLOT)
        self._answers_memory = mmap.mmap(-1, SLOTS * SLOT)
        context = multiprocessing.get_context("fork")
        tasks_end, self._tasks = context.Pipe(duplex=False)
        self._answers, answers_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve,
            args=(hashes, finish, self._tasks_memory, self._answers_memory, tasks_end, answers_end),
            kwargs={"close": close, "parents": (self._tasks, self._answers)},
            name="prefcenter-hash-worker",
            daemon=True,
        )
        self._process.start()
        tasks_end.close()  # the worker's ends; this process keeps the other two
        answers_end.close()
        self._sent = self._taken = 0
        self._ready: deque[Any] = deque()

    @property
    def outstanding(self) -> int:
        """Chunks sent whose answers have not come back yet."""
        return self._sent - self._taken

    def send_values(self, values: list[str]) -> bool:
        """Queue a chunk of addresses to hash; False (nothing sent) while the worker
        holds :data:`DEPTH` chunks already."""
        self._take_ready()
        if self.outstanding >= DEPTH:
            return False
        self._send(_VALUES + marshal.dumps(values))
        return True

    def send_hashes(self, hashes: list[bytes | None]) -> None:
        """Queue a chunk hashed here, to be finished."""
        self._take_ready()
        self._send(_HASHES + marshal.dumps(hashes))

    def receive(self) -> Any:
        """``finish``'s answer for the oldest chunk sent and not yet received.

        Raises:
            WorkerFailed: the worker has gone or failed.
        """
        return self._ready.popleft() if self._ready else self._take()

    def close(self) -> None:
        """Stop the worker (it ends when its input does; it is killed if it hangs)."""
        self._tasks.close()
        self._answers.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process.close()
        self._tasks_memory.close()
        self._answers_memory.close()

    def _send(self, task: bytes) -> None:
        while self.outstanding >= SLOTS:
            self._ready.append(self._take())
        if len(task) > SLOT:
            # Through the pipe, with nothing else queued: the worker reads it whole
            # before it answers, and its answer is read at once.
            while self.outstanding:
                self._ready.append(self._take())
            self._call(self._tasks.send_bytes, _INLINE + task)
            self._sent += 1
            self._ready.append(self._take())
            return
        start = (self._sent % SLOTS) * SLOT
        self._tasks_memory[start : start + len(task)] = task
        self._call(self._tasks.send_bytes, _IN_SLOT + _span(start, len(task)))
        self._sent += 1

    def _take_ready(self) -> None:
        """Collect the answers already there, so their slots can be used again."""
        while self.outstanding and self._call(self._answers.poll):
            self._ready.append(self._take())

    def _take(self) -> Any:
        self._taken += 1
        message = self._call(self._answers.recv_bytes)
        where, body = message[:1], message[1:]
        if where == _IN_SLOT:
            start, size = _unspan(body)
            body = self._answers_memory[start : start + size]
        elif where != _INLINE:
            raise WorkerFailed("The hash worker could not answer for a chunk; run again.")
        # Written by the forked worker, into memory or a pipe only the two processes share.
        return marshal.loads(body)  # noqa: S302

    def _call(self, method: Callable[..., T], *args: object) -> T:
        try:
            return method(*args)
        except (EOFError, OSError) as error:
            raise WorkerFailed(
                "The hash worker stopped before the list was screened (was it killed?); "
                "run the filter again."
            ) from error


def _span(start: int, size: int) -> bytes:
    return start.to_bytes(8, "little") + size.to_bytes(8, "little")


def _unspan(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[:8], "little"), int.from_bytes(data[8:16], "little")


def _serve(
    hashes: Hasher,
    finish: Finisher,
    tasks_memory: mmap.mmap,
    answers_memory: mmap.mmap,
    tasks: Connection,
    answers: Connection,
    *,
    close: Callable[[], None],
    parents: tuple[Connection, ...],
) -> None:
    """The worker: answer each task as it comes, in order, until the input ends."""
    for end in parents:  # forked copies of the main process's ends: the input must end
        end.close()
    # An interrupt is the main process's to handle; it closes the pipes, which ends this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while True:
            message = tasks.recv_bytes()
            where, task = message[:1], message[1:]
            start = -1
            if where == _IN_SLOT:
                start, size = _unspan(task)
                task = tasks_memory[start : start + size]
            answer = _answer(hashes, finish, task)
            if start < 0 or answer is None or len(answer) > SLOT:
                answers.send_bytes(_FAILED if answer is None else _INLINE + answer)
            else:
                answers_memory[start : start + len(answer)] = answer
                answers.send_bytes(_IN_SLOT + _span(start, len(answer)))
    except (EOFError, OSError):
        pass  # the main process closed its end, or has gone: nothing left to do
    finally:
        close()
        # Leave at once: flushing the standard streams on the way out (as
        # multiprocessing does) would write a second copy of whatever the main process
        # had buffered when it forked.
        os._exit(0)


def _answer(hashes: Hasher, finish: Finisher, task: bytes) -> bytes | None:
    """The marshalled answer to one task; None if it cannot be given."""
    try:
        kind, body = task[:1], marshal.loads(task[1:])  # noqa: S302 - from the main process
        own = kind == _VALUES
        return marshal.dumps(finish(hashes(body) if own else body, own))
    except Exception:  # the main process reports the failure
        return None
