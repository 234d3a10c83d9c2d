"""The console in a child process of ``prefcenter serve``, so it never slows one-click.

Rendering a console page (a report over a month of events, a queue of thousands) costs
tens of milliseconds of Python; in the sidecar's process it would hold the interpreter
lock that one-click answers need. So when ``serve`` runs the public sidecars, it binds
the console's address itself (a busy port is its usual one-line error, and port 0 is
known at once), hands the listening socket to ``prefcenter serve --no-http --no-smtp``
started beside it with the same settings, restarts that child if it dies (connections
wait in the socket's backlog meanwhile: the parent keeps it open), and stops it on the
way out. The child has its own store connections, logs to the same standard error, runs
at a lower CPU priority (``CONSOLE_NICE``, default 5: on a busy machine the kernel
serves one-click first, and pages wait a little instead; at 0 an operator browsing
made one-click wait for a core, at 10 the pages took twice as long for no measurable
gain to one-click: docs/performance.md), and dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, and a check of its parent).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from prefcenter.config import Settings, child_environment
from prefcenter.sidecar.console.address import console_address
from prefcenter.sidecar.http.server import listening_socket
from prefcenter.webhooks.process import die_with_parent

log = logging.getLogger("prefcenter.console")

#: Seconds between checks that the child still runs (and, in the child, its parent).
WATCH_S = 1.0
#: A child that ran this long is restarted at once; one that died sooner, after a growing
#: pause (1, 2, 4 ... up to :data:`MAX_PAUSE_S` seconds), not in a tight loop.
STEADY_S = 10.0
MAX_PAUSE_S = 30.0
#: Seconds the child gets to finish in-flight pages after SIGTERM.
STOP_S = 15.0


class ConsoleProcess:
    """The console as a supervised child process, with the start/stop of a sidecar.

    Args:
        settings: ``settings.console`` is where to listen (port 0 picks a free one).
        env: the child's environment (``config.child_environment``: this process's,
            with what ``serve`` was given as options); None: this process's.
        host, port: override ``settings.console``.

    Raises:
        ConfigError: ``CONSOLE`` is empty (the console is off) or not ``HOST:PORT``.
    """

    kind = "console"

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.host, self._requested_port = console_address(settings, host, port)
        self._reuse_port = settings.reuse_port
        self.port = 0
        self.env = {**(env or child_environment({})), "PREFCENTER_CONSOLE": settings.console}
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._started = 0.0
        self._socket: socket.socket | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL the console answers on, e.g. ``http://127.0.0.1:8081``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind the console's address and start the child; connections queue until it
        accepts them.

        Raises:
            OSError: the address cannot be bound (in use, not local, no permission).
        """
        if self._socket is not None:
            raise RuntimeError("ConsoleProcess.start() was called twice; call stop() first.")
        self._socket = listening_socket(
            self.host, self._requested_port, reuse_port=self._reuse_port
        )
        self.port = self._socket.getsockname()[1]
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="console-watch", daemon=True)
        self._watcher.start()

    def _argv(self, fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "prefcenter",
            "serve",
            "--no-http",
            "--no-smtp",
            "--listen-fd",
            str(fd),
            "--parent",
            str(os.getpid()),
        ]

    def _spawn(self) -> None:
        assert self._socket is not None
        fd = self._socket.fileno()
        # Our own interpreter and module; the socket is the only descriptor handed over.
        self.proc = subprocess.Popen(  # noqa: S603
            self._argv(fd), stdin=subprocess.DEVNULL, env=self.env, pass_fds=(fd,)
        )
        self._started = time.monotonic()

    def _watch(self) -> None:
        pause = 0.0
        while not self._stop.wait(WATCH_S):
            with self._lock:
                proc = self.proc
                if proc is None or proc.poll() is None or self._stop.is_set():
                    continue
                ran = time.monotonic() - self._started
                pause = 0.0 if ran >= STEADY_S else min(max(pause * 2, 1.0), MAX_PAUSE_S)
                log.warning(
                    "the operator console process exited with %s after %.0f s; "
                    "starting it again in %.0f s",
                    proc.returncode,
                    ran,
                    pause,
                )
            if self._stop.wait(pause):
                return
            with self._lock:
                if not self._stop.is_set():
                    self._spawn()
                    self.restarts += 1

    async def stop(self) -> None:
        """Stop the child (it finishes the pages in flight), then close the socket."""
        await asyncio.to_thread(self._stop_now)

    def _stop_now(self) -> None:
        self._stop.set()
        with self._lock:
            proc = self.proc
        if self._watcher is not None:
            self._watcher.join(WATCH_S * 2)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._socket is not None:
            self._socket.close()
            self._socket = None


async def serve_handed_socket(center: object, settings: Settings, fd: int, parent: int) -> None:
    """The child's side: serve the console on the inherited socket ``fd`` until SIGTERM,
    or until ``parent`` (the serve that started it) is gone."""
    from prefcenter.sidecar.console.server import ConsoleSidecar

    die_with_parent()
    # Pages may wait; one-click answers should not: on a busy machine the kernel gives
    # this process the CPU the sidecars leave (CONSOLE_NICE).
    os.nice(settings.console_nice)
    # Ctrl-C reaches the whole process group: the parent stops us in its own order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent:
        return  # the parent died before the kernel could be told to end us with it
    sidecar = ConsoleSidecar(center, settings, sock=socket.socket(fileno=fd))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    await sidecar.start()
    try:
        while os.getppid() == parent:
            try:
                await asyncio.wait_for(stopping.wait(), WATCH_S)
                break
            except TimeoutError:
                continue
    finally:
        await sidecar.stop()
        loop.remove_signal_handler(signal.SIGTERM)


__all__ = ["ConsoleProcess", "serve_handed_socket"]
