"""The operator console: the exceptions queue, a person's story and the report, in a browser.

A small server-rendered web app (starlette, Jinja2, inline SVG charts; no script, nothing
loaded from another host) that ``prefcenter serve`` runs on its own listener
(``CONSOLE``, default ``127.0.0.1:8081``), never on the public port, in a child
process of its own. Modules:

- ``app``: the application and the one error-to-page mapping;
- ``state``: the console's state, who is asking, roles and form checks;
- ``auth``: session cookies, CSRF tokens, the trusted sign-on header;
- ``pages``: the route table; ``login``, ``queue``, ``people``, ``report``, ``lists``:
  the pages; ``forms``: what their forms share;
- ``upload``: a multipart upload read to disk as it arrives; ``listjobs``: list checks
  as jobs on disk (progress, results, keeping);
- ``charts``: the SVG charts;
- ``server``: the listener; ``process``: the console as ``serve``'s child process.

Logins are throttled per client address with the sidecar's token buckets
(``sidecar/ratelimit.py``); the per-operator lockout is kept in the store.
"""

from __future__ import annotations

from prefcenter.sidecar.console.app import create_console_app
from prefcenter.sidecar.console.server import ConsoleSidecar

__all__ = ["ConsoleSidecar", "create_console_app"]
