"""The operator console: the exceptions queue, a person's story and the report, in a browser.

A small server-rendered web app (starlette, Jinja2, inline SVG charts; no script, nothing
loaded from another host) that ``prefcenter serve`` runs on its own listener
(``CONSOLE``, default ``127.0.0.1:8081``), never on the public port. Modules:

- ``app``: the application and the one error-to-page mapping;
- ``state``: the console's state, who is asking, roles and form checks;
- ``auth``: session cookies, CSRF tokens, the trusted sign-on header;
- ``pages``: the route table; ``login``, ``queue``, ``people``, ``report``, ``lists``:
  the pages; ``forms``: what their forms share;
- ``charts``: the SVG charts;
- ``throttle``: login throttling per client address;
- ``server``: the listener.
"""

from __future__ import annotations

from prefcenter.sidecar.console.app import create_console_app
from prefcenter.sidecar.console.server import ConsoleSidecar

__all__ = ["ConsoleSidecar", "create_console_app"]
