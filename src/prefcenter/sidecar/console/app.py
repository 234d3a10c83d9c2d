"""The console's application: its routes and the one place errors become pages.

``create_console_app(center, settings)`` is the entry point; ``prefcenter serve`` runs
it on its own listener (``CONSOLE``), never on the public port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from prefcenter.config import Settings
from prefcenter.errors import InvalidInput, NotAllowed, NotFound, PrefcenterError, StoreError
from prefcenter.operators import Operators
from prefcenter.sidecar.console import pages
from prefcenter.sidecar.console.auth import SESSION_COOKIE, Keys, Refused
from prefcenter.sidecar.console.listjobs import ListChecks
from prefcenter.sidecar.console.state import MAX_UPLOAD_BYTES, Console, console_of

_STATUS_TEXT = {
    404: ("Page not found", "There is nothing at this address in the console."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: (
        "Upload too large",
        f"The console checks lists of up to {MAX_UPLOAD_BYTES // 2**20} MiB; this upload was "
        "larger, so nothing was kept. Split the list into smaller files, or ask whoever runs "
        "prefcenter to check it with prefcenter filter.",
    ),
    503: (
        "The store did not answer",
        "Nothing was changed. Try again in a minute; if it lasts, tell whoever runs prefcenter.",
    ),
    500: (
        "Something went wrong",
        "Nothing was changed. Try again, or tell whoever runs prefcenter.",
    ),
}


async def error_page(request: Request, error: Exception) -> Response:
    """Every refusal and error as a page: what happened, and that nothing changed."""
    console = console_of(request)
    if isinstance(error, Refused):
        status, title, message = error.status, error.title, error.message
    elif isinstance(error, NotAllowed):
        status, title, message = 403, "Not allowed", str(error)
    elif isinstance(error, InvalidInput):
        status, title, message = 422, "That did not work", f"Nothing was changed. {error}"
    elif isinstance(error, NotFound):
        status, title, message = 404, "Not found", str(error)
    elif isinstance(error, HTTPException):
        status = error.status_code
        title, message = _STATUS_TEXT.get(status, _STATUS_TEXT[500])
    else:
        status = 503 if isinstance(error, StoreError | OSError) else 500
        title, message = _STATUS_TEXT[status]
    # A refused list (too large, or a third at once) leads back to the list check form.
    back = "/lists" if request.url.path.startswith("/lists") and status != 401 else ""
    # A logged-in operator is offered the way back, not the login page; a 401 logs out,
    # and a failing store (503) is not asked again for who they are.
    who = await console.logged_in(request) if status not in (401, 503) else None
    response = console.render(
        request,
        "problem.html",
        status,
        who,
        title=title,
        message=message,
        login=status == 401,
        back=back,
    )
    if status == 401:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def create_console_app(
    center: Any, settings: Settings, *, list_checks: ListChecks | None = None
) -> Starlette:
    """Build the console's ASGI app around an open ``PreferenceCenter`` (the caller closes it).

    Args:
        center: the open center the pages read and change.
        settings: the console's settings.
        list_checks: where list checks are kept and run (None: under
            ``VAR_DIR/console-lists``, as deployed; tests pass one that paces its checks).
    """
    console = Console(
        center=center,
        settings=settings,
        templates=jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            auto_reload=False,
        ),
        keys=Keys(settings),
        operators=Operators(center),
        lists=list_checks or ListChecks(settings.var_path / "console-lists"),
    )
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        Refused: error_page,
        PrefcenterError: error_page,
        HTTPException: error_page,
        Exception: error_page,
    }
    app = Starlette(routes=pages.routes(), exception_handlers=handlers)
    app.router.redirect_slashes = False
    app.state.console = console
    return app


__all__ = ["create_console_app", "error_page"]
