"""The console's listener: the HTTP sidecar's uvicorn setup on ``CONSOLE``, serving the console."""

from __future__ import annotations

from typing import Any

from prefcenter.config import Settings
from prefcenter.sidecar.console.address import console_address
from prefcenter.sidecar.console.app import create_console_app
from prefcenter.sidecar.console.state import MAX_UPLOAD_BYTES
from prefcenter.sidecar.http.server import HttpSidecar


class ConsoleSidecar(HttpSidecar):
    """The operator console as a start/stop object (see :class:`HttpSidecar`).

    The peer address is taken as it connected: uvicorn's ``X-Forwarded-For`` rewriting is
    off, so only ``TRUSTED_PROXIES`` decides whom the sign-on header is believed from.

    ``prefcenter serve`` runs it in a child process (``process.py``) on a socket it bound;
    ``sock`` is that socket.

    Raises:
        ConfigError: ``CONSOLE`` is empty (the console is off) or not ``HOST:PORT``.
    """

    kind = "console"

    def __init__(
        self,
        center: Any,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        **options: Any,
    ) -> None:
        host, port = console_address(settings, host, port)
        options.setdefault("max_request_bytes", MAX_UPLOAD_BYTES + 256 * 1024)
        options.setdefault("request_timeout", 300.0)  # a large list on a slow line
        super().__init__(
            center,
            settings,
            host=host,
            port=port,
            app=create_console_app(center, settings),
            **options,
        )
        self._config.proxy_headers = False
