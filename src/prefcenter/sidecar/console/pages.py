"""The console's pages: log in, the queue, one item, a person, the report, the list check.

Every page works without JavaScript: links and forms only, a GET never changes state,
and every change is a POST carrying the CSRF token and answered with a redirect to the
page showing the result (Post/Redirect/Get). Each change calls the library once and is
recorded with the evidence ``console:<operator>:<request id>``, so the audit history
names who made it.
"""

from __future__ import annotations

from starlette.routing import Route

from prefcenter.sidecar.console import lists, login, people, queue, report


def routes() -> list[Route]:
    """Every console route."""
    return [
        Route("/", login.home, methods=["GET"]),
        Route("/login", login.login_page, methods=["GET"]),
        Route("/login", login.login_post, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/queue", queue.queue_page, methods=["GET"]),
        Route("/queue/{item_id}", queue.item_page, methods=["GET"]),
        Route("/queue/{item_id}", queue.item_post, methods=["POST"]),
        Route("/person", people.person_page, methods=["GET"]),
        Route("/person", people.person_post, methods=["POST"]),
        Route("/report", report.report_page, methods=["GET"]),
        Route("/report/{table}.csv", report.report_csv, methods=["GET"]),
        Route("/lists", lists.lists_page, methods=["GET"]),
        Route("/lists", lists.lists_post, methods=["POST"]),
        Route("/lists/{key}", lists.list_status, methods=["GET"]),
        Route("/lists/{key}/{part}.csv", lists.lists_download, methods=["GET"]),
    ]
