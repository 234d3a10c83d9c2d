"""List checks as jobs on disk: the upload, its progress, and the two result files.

Each check is a directory ``VAR_DIR/console-lists/<key>/`` (owner-only permissions)
holding the upload while it is screened, ``sendable.csv`` and ``rejects.csv`` as the
engine of ``prefcenter filter`` writes them (streamed: memory stays flat whatever the
list's size), and ``status.json``: who started it, how far it got (bytes of the upload
read), and at the end the summary or the error. Status pages read only that file, so
a check survives a page reload and its results survive a restart of the console (a
check cut short by one is shown as interrupted: the file names the process screening
it by its id and its start time, so a process that got the same id later is not
mistaken for it). Checks are kept for
:data:`KEEP_SECONDS`, at most :data:`MAX_KEPT` of them; the oldest go first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefcenter.center import PreferenceCenter
from prefcenter.errors import InvalidInput, PrefcenterError

log = logging.getLogger("prefcenter.console")

#: How long a check's files are kept, and how many checks at most.
KEEP_SECONDS = 3600.0
MAX_KEPT = 20
#: Checks screened at once by one console (a third is refused until one is done).
MAX_RUNNING = 2
#: Seconds between two writes of a running check's progress.
PROGRESS_EVERY_S = 0.5
#: A key: what ``secrets.token_urlsafe(12)`` makes (nothing that could leave the folder).
_KEY = re.compile(r"^[A-Za-z0-9_-]{16}$")
#: A typical list row, for the screen's size estimate (as `prefcenter filter` assumes).
_BYTES_PER_ROW = 64

PARTS = ("sendable", "rejects")
#: What ``status.json`` holds beside a :class:`Check`'s fields: who is screening it.
_WORKER_KEYS = ("pid", "started")


@dataclass(frozen=True, slots=True)
class Check:
    """A list check as its ``status.json`` tells it.

    Attributes:
        key: the check's name in URLs and on disk.
        owner: the operator who uploaded the list (the only one who may see it).
        name: the uploaded file's name (its last path part, at most 80 characters).
        state: ``running``, ``done``, ``failed`` or ``interrupted``.
        size: bytes uploaded; done: bytes of it screened so far.
        created: when it was uploaded (Unix time).
        summary: the engine's summary when done (``FilterSummary.as_dict``).
        error: what went wrong, when failed (a sentence for the operator).
    """

    key: str
    owner: str
    name: str
    state: str
    size: int
    done: int
    created: float
    summary: dict[str, Any] | None = None
    error: str = ""

    @property
    def percent(self) -> int:
        """How much of the upload has been screened, 0-100."""
        return 100 if self.state == "done" or not self.size else self.done * 100 // self.size


class ListChecks:
    """The console's list checks, under ``root``; one per console process.

    Args:
        root: the folder the checks are kept in (made owner-only on first use).
        pace: called in a check's worker with its key and the bytes screened so far,
            once before screening starts and then at each progress note; the worker
            waits for it to return (tests hold checks running with it; None: nothing).
    """

    def __init__(self, root: Path, *, pace: Callable[[str, int], None] | None = None) -> None:
        self.root = root
        self.pace = pace
        #: Keys of the checks this process is screening; a worker leaves it in the same
        #: hold of the lock as it writes its result, so a page that reads the result
        #: never finds its worker still counted as running.
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._started = process_started(self._pid)

    # -- starting --------------------------------------------------------------------------
    def new(self) -> tuple[str, Path]:
        """A fresh check's key and the path its upload is written to.

        Raises:
            InvalidInput: :data:`MAX_RUNNING` checks are running.
        """
        if self.busy():
            raise InvalidInput(
                f"{MAX_RUNNING} lists are being checked already; wait until one is done, "
                "then upload this one again."
            )
        self.sweep()
        key = secrets.token_urlsafe(12)
        folder = self.root / key
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(self.root, 0o700)
        return key, folder / "upload"

    def busy(self) -> bool:
        """True when :data:`MAX_RUNNING` checks are screening in this process."""
        with self._lock:
            return len(self._running) >= MAX_RUNNING

    def discard(self, key: str) -> None:
        """Remove a check that never started (a refused or broken upload)."""
        shutil.rmtree(self.root / key, ignore_errors=True)

    def start(
        self,
        center: PreferenceCenter,
        key: str,
        *,
        owner: str,
        name: str,
        size: int,
        topic: str | None,
        channel: str,
        kind: str,
    ) -> None:
        """Record the check as running and screen it in a thread of its own."""
        self._write(key, owner=owner, name=name, state="running", size=size, done=0)
        worker = threading.Thread(
            target=self._run,
            args=(center, key, owner, name, size, topic, channel, kind),
            name=f"list-check-{key}",
            daemon=True,
        )
        with self._lock:
            self._running.add(key)
        try:
            worker.start()
        except BaseException:
            with self._lock:
                self._running.discard(key)
            raise

    def _run(
        self,
        center: PreferenceCenter,
        key: str,
        owner: str,
        name: str,
        size: int,
        topic: str | None,
        channel: str,
        kind: str,
    ) -> None:
        from prefcenter.screening.csv.listfilter import filter_csv

        folder = self.root / key
        last = 0.0

        def progress(done: int) -> None:
            nonlocal last
            if self.pace is not None:
                self.pace(key, done)
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                self._write(key, owner=owner, name=name, state="running", size=size, done=done)

        state, summary, error = "failed", None, ""
        try:
            if self.pace is not None:
                self.pace(key, 0)
            with (
                center.screen(
                    topic, channel=channel, kind=kind, expected_rows=size // _BYTES_PER_ROW
                ) as screen,
                (folder / "upload").open("rb") as source,
                (folder / "sendable.part").open("wb") as sink,
                (folder / "rejects.part").open("wb") as rejects,
            ):
                result = filter_csv(source, sink, screen, on_progress=progress, rejects=rejects)
            for part in PARTS:
                (folder / f"{part}.part").replace(folder / f"{part}.csv")
            state, summary = "done", result.as_dict()
        except PrefcenterError as problem:  # the list itself (not text, a broken quote)
            error = str(problem)
        except Exception as problem:  # the store or the disk; never the rows in the log
            log.warning("list check %s failed: %s", key, type(problem).__name__)
            error = (
                "The check could not finish (the store or the disk did not answer). "
                "Upload the list again; if it lasts, tell whoever runs prefcenter."
            )
        finally:
            with contextlib.suppress(OSError):
                (folder / "upload").unlink()
            with self._lock:
                try:
                    self._write(
                        key, owner=owner, name=name, state=state, size=size, done=size,
                        summary=summary, error=error,
                    )  # fmt: skip
                finally:
                    self._running.discard(key)

    # -- reading ---------------------------------------------------------------------------
    def get(self, key: str, owner: str) -> Check | None:
        """The check ``key`` if ``owner`` started it (None otherwise, or if it is gone)."""
        if not _KEY.match(key):
            return None
        check, worker = self._read(key, owner)
        if check is None or check.state != "running" or self._alive(key, *worker):
            return check
        # The worker may have written its result and ended between the two reads: only
        # a file that still says running once its worker is gone was cut short.
        check, _ = self._read(key, owner)
        if check is not None and check.state == "running":
            return dataclasses.replace(check, state="interrupted")
        return check

    def _read(self, key: str, owner: str) -> tuple[Check | None, tuple[int, int | None]]:
        """The check's ``status.json`` (None: not there or not ``owner``'s), and the
        process that wrote it: its id and start time (None: a file from before the
        start time was recorded)."""
        try:
            data = json.loads((self.root / key / "status.json").read_text())
        except (OSError, ValueError):
            return None, (0, None)
        if data.get("owner") != owner:
            return None, (0, None)
        check = Check(key=key, **{k: v for k, v in data.items() if k not in _WORKER_KEYS})
        started = data.get("started")
        return check, (int(data.get("pid", 0)), None if started is None else int(started))

    def of(self, owner: str) -> list[Check]:
        """``owner``'s checks still kept, newest first (the expired ones are removed)."""
        self.sweep()
        found = [self.get(folder.name, owner) for folder in self._folders()]
        return sorted((c for c in found if c), key=lambda c: c.created, reverse=True)

    def path(self, check: Check, part: str) -> Path:
        """The file of a finished check: ``sendable`` or ``rejects``."""
        return self.root / check.key / f"{part}.csv"

    def _alive(self, key: str, pid: int, started: int | None) -> bool:
        """True while the worker that wrote ``status.json`` may still be screening it:
        process ``pid``, started at ``started`` (clock ticks after boot)."""
        if pid <= 0:
            return False
        if pid == self._pid and (started is None or started == self._started):
            with self._lock:
                return key in self._running
        try:
            os.kill(pid, 0)  # another console process (REUSE_PORT) may be screening it
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        # A process id is handed out again once its process is gone (in a container the
        # console may get the same one after every restart): it is the same process only
        # if it started when the one that wrote the file did.
        if started is None or self._started is None:
            return True  # nothing to compare: a file from an older console, or no /proc
        return process_started(pid) == started

    # -- keeping ---------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> None:
        """Remove checks older than :data:`KEEP_SECONDS`, and the oldest beyond
        :data:`MAX_KEPT` - 1 (room for one more); never one screening in this process."""
        now = time.time() if now is None else now
        with self._lock:
            running = set(self._running)
        kept: list[tuple[float, Path]] = []
        for folder in self._folders():
            if folder.name in running:
                continue
            try:
                created = (folder / "status.json").stat().st_mtime
            except OSError:  # an upload that never finished: by the folder's age
                created = folder.stat().st_mtime
            if now - created > KEEP_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                kept.append((created, folder))
        for _, folder in sorted(kept)[: max(0, len(kept) + len(running) - (MAX_KEPT - 1))]:
            shutil.rmtree(folder, ignore_errors=True)

    def _folders(self) -> list[Path]:
        try:
            return [p for p in self.root.iterdir() if p.is_dir() and _KEY.match(p.name)]
        except OSError:
            return []

    def _write(self, key: str, **status: Any) -> None:
        """Replace ``status.json`` at once (a reader never sees half of it)."""
        folder = self.root / key
        old: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            old = json.loads((folder / "status.json").read_text())
        data = {
            "created": old.get("created", time.time()),
            **status,
            "pid": self._pid,
            "started": self._started,
        }
        temporary = folder / "status.tmp"
        temporary.write_text(json.dumps(data))
        temporary.replace(folder / "status.json")


def process_started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot (``/proc/<pid>/stat``'s
    22nd field); None where there is no ``/proc`` or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The 2nd field, the command's name in parentheses, may itself hold spaces and ")".
    fields = stat[stat.rindex(b")") + 2 :].split()
    try:
        return int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


__all__ = [
    "KEEP_SECONDS",
    "MAX_KEPT",
    "MAX_RUNNING",
    "PARTS",
    "Check",
    "ListChecks",
    "process_started",
]
