"""Issue 20 item 11: liveness and readiness are two answers.

``/healthz`` said ok while no write could commit (a held lock, a read-only file, a
full disk): it pinged with a read. Now ``/healthz`` is liveness (the process answers)
and ``/readyz`` commits a tiny write; ``/metrics`` shows both. The real sidecar runs on
loopback over a real SQLite file whose write lock the test holds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.sidecar.conftest import live_sidecar, sidecar_settings


def test_readyz_fails_while_no_write_can_commit_and_healthz_stays_live(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, store_timeout="2s")
    with live_sidecar(settings) as server, server.client() as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        assert "prefcenter_ready 1" in client.get("/metrics").text
        holder = sqlite3.connect(settings.database.removeprefix("sqlite:///"), timeout=1)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            not_ready = client.get("/readyz")
            alive = client.get("/healthz")
            metrics = client.get("/metrics").text
        finally:
            holder.rollback()
            holder.close()
        assert not_ready.status_code == 503
        assert not_ready.headers["retry-after"] == "30"
        assert not_ready.json()["status"] == "unavailable"
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        assert "prefcenter_ready 0" in metrics and "prefcenter_up 1" in metrics
        assert client.get("/readyz").status_code == 200  # the lock is gone: ready again
