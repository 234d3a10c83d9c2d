"""An import's first pass on two cores: a forked worker reads some of the chunks.

Reading a chunk (the provider's mapping, dates, canonicalising and hashing, dealing rows
to the spool's buckets) costs about as much CPU as writing it, and needs no store. So
the import may fork one worker that does the same for the chunks it is sent, writing
its rows into bucket files of its own in the spool's directory (each part marked with
its chunk's number, so that the spool reads every bucket back in file order). The main
process cuts the file into blocks of lines (:func:`~prefcenter.esp.records.blocks`:
unparsed, unless a quote makes it parse them to find where a record ends) and sends
the worker the next one whenever the worker holds fewer than :data:`DEPTH`; otherwise
it reads the chunk itself. So the two cores share the work whatever else the machine is
doing, and only text crosses the pipe (parsed rows would cost the worker as much to
unmarshal as to parse).

The worker answers each chunk, in order, with its rows and what it left out (line, why,
fields), and the main process reports rejects in file order. It is forked before the
spool has an open file and with no store connection (the import releases them first);
it never touches the store. If it fails or is killed, :meth:`ReadWorker.finish` (or
the next chunk) raises :class:`~prefcenter.errors.WorkerFailed` before anything is
written: pass one writes nothing to the store.
"""

from __future__ import annotations

import marshal
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prefcenter.errors import WorkerFailed
from prefcenter.esp.records import Block, Table
from prefcenter.esp.spool import BucketFiles

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: Chunks the worker may hold (being read or waiting); past this the main process reads.
DEPTH = 2
#: The worker's bucket files' prefix in the spool's directory.
PREFIX = "w"

#: What the worker runs on each chunk: (the rows flat, the rejects (line, why, fields)).
Reader = Callable[[Table], tuple[list[Any], list[tuple[int, str, dict[str, str]]]]]
#: What the worker sends when its input ends (marshallable: the groups it met).
Closer = Callable[[], Any]

_END = b""
_FAILED = b"F"
_GONE = object()


class ReadWorker:
    """One forked process reading chunks into its own bucket files, answering in order."""

    def __init__(self, read: Reader, close: Closer, width: int, directory: str) -> None:
        import multiprocessing  # only a parallel import needs it

        context = multiprocessing.get_context("fork")
        tasks_end, self._tasks = context.Pipe(duplex=False)
        self._answers, answers_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve,
            args=(read, close, width, directory, tasks_end, answers_end),
            kwargs={"parents": (self._tasks, self._answers)},
            name="prefcenter-import-reader",
            daemon=True,
        )
        self._process.start()
        tasks_end.close()  # the worker's ends; this process keeps the other two
        answers_end.close()
        self.outstanding = 0
        # Answers are taken off the pipe by a thread, so that neither process can wait
        # on a full pipe while the other waits on it (an answer with many rejects is
        # larger than a pipe's buffer).
        self._ready: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._receiver = threading.Thread(target=self._receive, daemon=True)
        self._receiver.start()
        # And put on it by another: a block is larger than a pipe's buffer, and this
        # process reads on while the worker is busy with the one before.
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._sent_failed: OSError | None = None
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._sender.start()

    def _send(self) -> None:
        while (task := self._outbox.get()) is not None:
            try:
                self._tasks.send_bytes(task)
            except OSError as error:  # the worker has gone: the next call says so
                self._sent_failed = error
                return

    def _check_sender(self) -> None:
        if self._sent_failed is not None:
            raise WorkerFailed(
                "The import's reader process stopped before the file was read (was it "
                "killed?); nothing was written, run the import again."
            ) from self._sent_failed

    def send(self, chunk: int, item: Table | Block) -> bool:
        """Queue chunk number ``chunk`` (a block is parsed by the worker); False
        (nothing sent) while the worker holds :data:`DEPTH` chunks already."""
        if self.outstanding >= DEPTH:
            return False
        task: Any = (chunk, isinstance(item, Block), tuple(item))
        self._check_sender()
        self._outbox.put(marshal.dumps(task))
        self.outstanding += 1
        return True

    def ready(self) -> bool:
        """Whether the oldest outstanding chunk's answer has come back."""
        return not self._ready.empty()

    def answer(self) -> tuple[int, list[tuple[int, str, dict[str, str]]]]:
        """The oldest outstanding chunk's (rows, rejects); waits for it.

        Raises:
            WorkerFailed: the worker has gone or failed.
        """
        found = self._take()
        self.outstanding -= 1
        rows, rejects = found
        return rows, [(line, why, fields) for line, why, fields in rejects]

    def finish(self) -> tuple[int, Any]:
        """End the input: (rows the worker spooled, what ``close`` returned); its files
        are then complete.

        Raises:
            WorkerFailed: the worker has gone or failed.
        """
        if self.outstanding:
            raise RuntimeError("answers are still outstanding")  # a caller's mistake
        self._check_sender()
        self._outbox.put(_END)
        rows, closed = self._take()
        return rows, closed

    def close(self) -> None:
        """Stop the worker (it ends when its input does; it is killed if it hangs)."""
        self._outbox.put(None)
        self._sender.join(timeout=5)
        self._tasks.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._receiver.join(timeout=5)
        self._answers.close()
        self._process.close()

    def _receive(self) -> None:
        try:
            while True:
                message = self._answers.recv_bytes()
                if message[:1] == _FAILED:
                    self._ready.put(WorkerFailed(
                        "The import's reader process failed on a chunk "
                        f"({message[1:].decode(errors='replace')}); nothing was written, "
                        "run the import again."
                    ))  # fmt: skip
                    return
                # Written by the forked worker, into a pipe only the two processes share.
                self._ready.put(marshal.loads(message))  # noqa: S302
        except (EOFError, OSError):
            self._ready.put(_GONE)

    def _take(self) -> Any:
        found = self._ready.get()
        if found is _GONE:
            self._ready.put(_GONE)  # every later call fails the same way
            raise WorkerFailed(
                "The import's reader process stopped before the file was read (was it "
                "killed?); nothing was written, run the import again."
            )
        if isinstance(found, WorkerFailed):
            self._ready.put(found)
            raise found
        return found


def _serve(
    read: Reader,
    close: Closer,
    width: int,
    directory: str,
    tasks: Connection,
    answers: Connection,
    *,
    parents: tuple[Connection, ...],
) -> None:
    """The worker: read each chunk as it comes, answer in order, until the input ends."""
    for end in parents:  # forked copies of the main process's ends: the input must end
        end.close()
    # An interrupt is the main process's to handle; it closes the pipes, which ends this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    files = BucketFiles(width, directory, PREFIX)
    try:
        while True:
            message = tasks.recv_bytes()
            try:
                if message == _END:
                    files.finish()
                    answers.send_bytes(marshal.dumps((files.rows, close())))
                    break
                # From the main process, through a pipe only the two processes share.
                chunk, block, fields = marshal.loads(message)  # noqa: S302
                values, rejects = read(Block(*fields).table() if block else Table(*fields))
                files.add(values, chunk)
                answer = marshal.dumps((len(values) // width, rejects))
            except Exception as error:  # the main process reports the failure
                line = traceback.format_exception_only(error)[-1].strip()
                answers.send_bytes(_FAILED + line[:300].encode())
                break
            answers.send_bytes(answer)
    except (EOFError, OSError):
        pass  # the main process closed its end, or has gone: nothing left to do
    finally:
        # Leave at once: flushing the standard streams on the way out (as
        # multiprocessing does) would write a second copy of whatever the main process
        # had buffered when it forked.
        os._exit(0)


__all__ = ["DEPTH", "PREFIX", "ReadWorker"]
