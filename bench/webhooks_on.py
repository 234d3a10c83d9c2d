"""Turn the change webhooks on inside a benchmark: ``--webhooks off,queue,deliver``.

``queue`` registers an endpoint, so every committed change also writes its outbox row in
the same transaction (the cost on the one-click and SMTP paths), and nothing delivers.
``deliver`` also runs the outbox worker beside the server as ``serve`` does (a
``prefcenter webhooks run`` process), POSTing every change to a receiver in another
process that answers 204: the whole cost of webhooks being on, on the same cores. Its
stop() reports what was left undelivered and the CPU seconds the worker and the
receiver used.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODES = ("off", "queue", "deliver")
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789ab").decode()
_RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def webhook_modes(text: str) -> list[str]:
    """``--webhooks off,queue,deliver``: the modes to measure, in order."""
    modes = [mode.strip() for mode in text.split(",") if mode.strip()]
    unknown = [mode for mode in modes if mode not in MODES]
    if not modes or unknown or len(set(modes)) != len(modes):
        raise argparse.ArgumentTypeError(
            f"{text!r}: write distinct modes from {', '.join(MODES)}, separated by commas"
        )
    return modes


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def webhooks_on(center: Any, mode: str) -> Callable[[], dict[str, float]]:
    """Switch webhooks on for ``center``'s store; returns stop() -> what was delivered."""
    if mode == "off":
        return lambda: {}
    if mode == "queue":
        center.store.run(lambda session: session.sync_endpoints(["http://127.0.0.1:9/bench"]))
        return lambda: {"queued": sum(center.webhook_outbox().values())}
    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    url = f"http://127.0.0.1:{receiver.stdout.readline().strip()}/hook"
    center.store.run(lambda session: session.sync_endpoints([url]))
    settings = center.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update(
        PREFCENTER_DATABASE=settings.database,
        PREFCENTER_SECRET=settings.secret[-1].reveal(),
        PREFCENTER_PEPPER=settings.pepper.reveal() if settings.pepper else "",
        PREFCENTER_VAR_DIR=settings.var_dir,
        PREFCENTER_EVENTS_WEBHOOK_URL=url,
        PREFCENTER_EVENTS_WEBHOOK_SECRET=SECRET,
        PREFCENTER_LOG_LEVEL="warning",
    )
    # As `serve` runs it: a worker process beside the server (`prefcenter webhooks run`).
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefcenter", "webhooks", "run", "--parent", str(os.getpid())],
        env=env,
    )

    def stop() -> dict[str, float]:
        deadline = time.monotonic() + 120
        while center.webhook_outbox() and time.monotonic() < deadline:
            time.sleep(0.2)  # let the worker catch up, then count
        left = sum(center.webhook_outbox().values())
        cpu = {
            "worker_cpu_s": _cpu_seconds(worker.pid),
            "receiver_cpu_s": _cpu_seconds(receiver.pid),
        }
        worker.terminate()
        worker.wait(30)
        receiver.terminate()
        receiver.wait(10)
        return {"left": left, **cpu}

    return stop


__all__ = ["MODES", "SECRET", "webhook_modes", "webhooks_on"]
