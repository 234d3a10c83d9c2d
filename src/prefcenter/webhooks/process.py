"""The webhook worker as a child process of ``prefcenter serve``.

Delivering a webhook (JSON, an HMAC, an HTTP request) costs several times the Python a
one-click answer does; in the sidecar's own process it would hold the interpreter lock
the sidecar needs. So ``serve`` starts ``prefcenter webhooks run`` beside it, with the
same settings (environment and configuration file), restarts it if it dies, and stops
it on the way out. The child dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and a
check of its parent elsewhere), so a ``serve`` killed with SIGKILL leaves no orphan
delivering beside the next one; the outbox is in the store, so nothing is lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading

from prefcenter.errors import StoreError
from prefcenter.webhooks.worker import WebhookWorker

log = logging.getLogger("prefcenter.webhooks")

#: Seconds between checks that the child still runs (and restarts when it does not).
WATCH_S = 1.0
#: Seconds a child gets to finish its round after SIGTERM.
STOP_S = 15.0
_PR_SET_PDEATHSIG = 1


class WorkerProcess:
    """Runs ``prefcenter webhooks run`` as a child and keeps it running."""

    def __init__(self, argv: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        """``env``: the child's environment (``config.child_environment``: the settings
        this process loaded, a store URL with its password included, which must not go
        on the command line every user of the host can read); None keeps this one's."""
        self.argv = argv or [
            sys.executable,
            "-m",
            "prefcenter",
            "webhooks",
            "run",
            "--parent",
            str(os.getpid()),
        ]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="webhook-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        # Our own interpreter and module; the settings come in the environment.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, env=self.env)  # noqa: S603

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_S):
            if self.proc is not None and self.proc.poll() is not None:
                log.warning(
                    "webhook worker exited with %s; starting it again", self.proc.returncode
                )
                self._spawn()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(WATCH_S * 2)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux); elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_worker(worker: WebhookWorker, parent: int | None = None) -> None:
    """Deliver until SIGTERM or SIGINT, or until ``parent`` (the serve that started this
    one, if any) is gone: then exit at once, leaving the rest in the outbox."""
    die_with_parent()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per delivery
    if parent is not None and os.getppid() != parent:
        os._exit(0)  # the parent died before the kernel could be told to kill us with it
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    worker.start()
    try:
        while not stopping.wait(WATCH_S):
            if parent is not None and os.getppid() != parent:
                os._exit(0)  # orphaned: a delivery cut short is sent again by the next one
    finally:
        with contextlib.suppress(StoreError):
            worker.stop()


__all__ = ["WorkerProcess", "die_with_parent", "run_worker"]
