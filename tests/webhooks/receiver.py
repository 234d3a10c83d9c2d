"""A real Standard Webhooks receiver on 127.0.0.1 that can go down and come back on its port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


class Receiver:
    """Verifies each POST with the ``standardwebhooks`` package and keeps what arrived.

    ``deliveries`` holds each accepted body, ``ids`` each one's ``webhook-id``, and
    ``changes`` every change it carried (one, or a batch's ``data.events``).
    ``fail`` (a set of identity hashes, or ``"all"``) answers 500 to a delivery that
    carries one of those people.
    """

    def __init__(self, secret: str, port: int = 0) -> None:
        self.verifier = Webhook(secret)
        self.lock = threading.Lock()
        self.deliveries: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.changes: list[dict[str, Any]] = []
        self.refused_ids: list[str] = []
        self.bad_signatures = 0
        self.fail: set[str] | str = set()
        self.arrived = threading.Condition(self.lock)
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/prefcenter"

    def up(self) -> None:
        """Listen (again) on the same port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                if len(body) < length:  # the sender was killed mid-request: nothing came
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    data = receiver.verifier.verify(body, headers)
                except Exception:
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                changes = (
                    data["data"]["events"]
                    if data["type"] == "prefcenter.changes"
                    else [data["data"]]
                )
                people = {change.get("identity_hash") for change in changes}
                fail = receiver.fail
                if fail == "all" or (isinstance(fail, set) and people & fail):
                    with receiver.lock:
                        receiver.refused_ids.append(headers["webhook-id"])
                    self.send_response(500)
                    self.end_headers()
                    return
                with receiver.arrived:
                    receiver.deliveries.append(data)
                    receiver.ids.append(headers["webhook-id"])
                    receiver.changes.extend(changes)
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: deliveries get connection refused."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` distinct changes (event ids) arrived."""
        with self.arrived:
            return self.arrived.wait_for(
                lambda: len({change["id"] for change in self.changes}) >= count, timeout
            )

    def change_ids(self) -> set[str]:
        """The distinct ids of the changes that arrived."""
        with self.lock:
            return {change["id"] for change in self.changes}

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(json.dumps(item)) for item in self.deliveries]
