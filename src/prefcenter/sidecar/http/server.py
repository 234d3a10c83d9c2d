"""Run the HTTP sidecar under uvicorn inside the caller's event loop.

``prefcenter serve`` and the tests use this; uvicorn's own runner would take over the
process (signals, ``sys.exit`` on a busy port), which a library must not do.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn
from starlette.applications import Starlette

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.errors import ConfigError
from prefcenter.providers.sns import Fetcher
from prefcenter.sidecar.http.app import create_app
from prefcenter.sidecar.http.connection import protocol_class
from prefcenter.sidecar.http.guard import GuardedProtocol, sweep_forever
from prefcenter.sidecar.http.state import Sidecar


def parse_listen(value: str, name: str = "http") -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:8080`` for IPv6) into host and port.

    Raises:
        ConfigError: the value has no port or the port is not 0-65535.
    """
    host, colon, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"Setting {name.upper()} has value {value!r}; write HOST:PORT such as 127.0.0.1:8080.",
            name=name,
            value=value,
        )
    return host, int(port)


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A non-blocking TCP socket bound to ``host:port`` and listening (port 0: a free one).

    Raises:
        OSError: the address cannot be bound (in use, not local, no permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket's proto says TCP; with proto 0, Nagle plus delayed ACKs
    # add ~40 ms to every response written in two parts (head, then body).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # several serve processes on one port (REUSE_PORT)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HttpSidecar:
    """The HTTP sidecar as a start/stop object.

    Args:
        center: an open ``PreferenceCenter``; the caller closes it after :meth:`stop`.
        settings: branding, keys and ``settings.http`` (``HOST:PORT``; port 0 picks a free one).
        host, port: override ``settings.http`` (tests pass port 0).
        log_level: uvicorn's log level. The access log stays off: paths carry tokens.
        graceful_timeout: seconds ``stop()`` lets in-flight requests finish.
        request_timeout: seconds a request may take to arrive whole (408 after that).
        max_head_bytes: largest request line plus headers (431 beyond).
        max_request_bytes: largest whole request (413 beyond; routes read less).
        app: serve this ASGI app instead of ``create_app(center, settings)`` (the
            benchmark serves a bare hello-world app with the very same uvicorn config).
        sns_fetcher: fetches SNS certificates for ``/hooks/ses`` (tests serve a local CA's).
        sock: serve on this listening socket instead of binding one (a parent process
            bound it and handed it over; see ``sidecar/console/process.py``).

    Usage::

        sidecar = HttpSidecar(center, settings)
        await sidecar.start()      # listening when this returns; sidecar.port is bound
        await stopping.wait()      # serve until the application decides to stop
        await sidecar.stop()       # stops accepting, finishes in-flight requests
    """

    def __init__(
        self,
        center: PreferenceCenter,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        log_level: str = "warning",
        graceful_timeout: float = 10.0,
        request_timeout: float = 30.0,
        max_head_bytes: int = 64 * 1024,
        max_request_bytes: int = GuardedProtocol.max_request_bytes,
        app: Starlette | None = None,
        sns_fetcher: Fetcher | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        default_host, default_port = parse_listen(settings.http)
        self.host = host if host is not None else default_host
        self._requested_port = port if port is not None else default_port
        self._reuse_port = settings.reuse_port
        self._given = sock
        self.app = app if app is not None else create_app(center, settings, sns_fetcher=sns_fetcher)
        self._config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self._requested_port,
            # httptools, with limits uvicorn lacks (sidecar/http/guard.py) and one-click
            # answered on the connection (sidecar/http/connection.py)
            http=protocol_class(
                self.app,
                request_timeout,
                max_head_bytes,
                max_request_bytes,
                on_connection=settings.http_fast_path,
            ),
            lifespan="off",
            access_log=False,
            log_level=log_level,
            server_header=False,
            # The client address is read in sidecar/http/throttle.py, from TRUSTED_PROXIES only
            # (uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1).
            proxy_headers=False,
            timeout_keep_alive=15,
            timeout_graceful_shutdown=int(graceful_timeout),
        )
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL the sidecar answers on, e.g. ``http://127.0.0.1:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving; returns once connections are accepted.

        Raises:
            OSError: the address cannot be bound (in use, not local, no permission).
        """
        if self._server is not None:
            raise RuntimeError("HttpSidecar.start() was called twice; call stop() first.")
        if self._given is not None:
            sock, self._given = self._given, None
            sock.setblocking(False)
        else:
            sock = listening_socket(self.host, self._requested_port, reuse_port=self._reuse_port)
        self._socket = sock
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(self._config)
        if not self._config.loaded:
            self._config.load()
        server.lifespan = self._config.lifespan_class(self._config)
        await server.startup(sockets=[sock])
        self._server = server
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(server.main_loop())
        self._sweeper = loop.create_task(sweep_forever(server.server_state.connections))

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests (and their commits) finish, then close."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        # main_loop only ticks (every 0.1 s) to notice should_exit; cancel it rather than
        # wait for the tick. shutdown() below is what closes and drains connections.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.shutdown(sockets=[self._socket] if self._socket else None)
        sidecar: Sidecar | None = getattr(self.app.state, "sidecar", None)
        if sidecar is not None:
            await sidecar.committer.close()
        if self._socket is not None:
            self._socket.close()
        self._server = self._task = self._socket = None

    async def serve_forever(self) -> None:
        """Start, then run until cancelled (Ctrl-C in ``prefcenter serve``), then stop."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
