"""The console's listener: the HTTP sidecar's uvicorn setup on ``CONSOLE``, serving the console."""

from __future__ import annotations

from typing import Any

from prefcenter.config import Settings
from prefcenter.sidecar.console.address import console_address
from prefcenter.sidecar.console.app import create_console_app
from prefcenter.sidecar.console.listjobs import ListChecks
from prefcenter.sidecar.console.state import MAX_UPLOAD_BYTES
from prefcenter.sidecar.http.server import HttpSidecar


class ConsoleSidecar(HttpSidecar):
    """The operator console as a start/stop object (see :class:`HttpSidecar`).

    The peer address is taken as it connected: uvicorn's ``X-Forwarded-For`` rewriting is
    off, so only ``TRUSTED_PROXIES`` decides whom the sign-on header is believed from.

    ``prefcenter serve`` runs it in a child process (``process.py``) on a socket it bound;
    ``sock`` is that socket. ``list_checks`` goes to :func:`create_console_app`.

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
        list_checks: ListChecks | None = None,
        **options: Any,
    ) -> None:
        host, port = console_address(settings, host, port)
        # Past the list's limit the upload reader answers 413 with a page; this cap on the
        # whole request is the backstop for what it never reads, with room for the form's
        # fields, the framing, and the body the server has received but the reader not yet
        # seen (up to uvicorn's 64 KiB buffer and a 256 KiB read), so the page comes first.
        options.setdefault("max_request_bytes", MAX_UPLOAD_BYTES + 1024 * 1024)
        options.setdefault("request_timeout", 300.0)  # a large list on a slow line
        super().__init__(
            center,
            settings,
            host=host,
            port=port,
            app=create_console_app(center, settings, list_checks=list_checks),
            **options,
        )
        self._config.proxy_headers = False
