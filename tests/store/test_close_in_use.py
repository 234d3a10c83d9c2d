"""Closing a store while another thread is inside a statement must not crash the process.

The sidecar abandons a store call after STORE_TIMEOUT (the thread keeps waiting on the
lock) and may close the store right after; SQLite then freed the connection under the
running statement and the process died with a segmentation fault. Each case runs in
its own interpreter so that a crash is a failed test, not a dead test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prefcenter.errors import StoreUnavailable
from prefcenter.store.sqlite import SqliteStore

SCENARIO = textwrap.dedent(
    """
    import sqlite3, sys, threading, time
    from prefcenter.errors import StoreError
    from prefcenter.store.sqlite import SqliteStore

    path, mode = sys.argv[1], sys.argv[2]
    store = SqliteStore(path, fingerprint="f" * 16, busy_timeout_ms=1500)
    holder = sqlite3.connect(path, timeout=1, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the worker's write waits on this lock
    outcome = []

    def worker():
        try:
            if mode == "write":
                store.run(lambda session: session.probe_write())
            else:
                store.read(lambda session: session.probe_write())
            outcome.append("committed")
        except StoreError as error:
            outcome.append(type(error).__name__)

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.3)  # the worker is inside SQLite's busy wait now
    threading.Timer(0.3, holder.rollback).start()
    store.close()
    thread.join(10)
    holder.close()
    print(outcome[0] if outcome else "hung")
    """
)


def closed_while_busy(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCENARIO, str(tmp_path / "store.db"), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_close_waits_for_a_write_in_flight_then_closes(tmp_path: Path) -> None:
    done = closed_while_busy(tmp_path, "write")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "committed"  # the lock went away within the busy timeout


def test_close_waits_for_a_read_in_flight_then_closes(tmp_path: Path) -> None:
    done = closed_while_busy(tmp_path, "read")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "committed"


def test_a_store_call_after_close_is_refused_by_name(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db", fingerprint="f" * 16)
    store.ping()
    store.close()
    with pytest.raises(StoreUnavailable, match=r"store\.db.* is closed; open a new one"):
        store.ping()
