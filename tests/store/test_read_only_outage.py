"""A connection first opened while the database file could not be written recovers.

SQLite opens a file it cannot open for writing read-only, without saying so, and keeps
that connection read-only for good. A sidecar thread whose first store call came during
such an outage (an immutable file, a read-only remount) refused every write after the
outage ended: the fault test saw every one-click answered 503 for two minutes after
the file was writable again.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from prefcenter.errors import StoreUnavailable
from prefcenter.store.sqlite import SqliteStore


def _chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


def test_a_connection_opened_during_a_read_only_outage_writes_after_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(str(path), fingerprint="f" * 16, busy_timeout_ms=500)
    files = [path, path.with_name(path.name + "-wal")]
    try:
        _chattr("+i", *files)
    except (OSError, subprocess.CalledProcessError):
        store.close()
        pytest.skip("this filesystem has no immutable flag (chattr +i)")
    try:
        # A thread of its own, so that its connection is opened during the outage.
        with ThreadPoolExecutor(max_workers=1) as thread:
            try:
                with pytest.raises(StoreUnavailable):
                    thread.submit(store.run, lambda session: session.probe_write()).result()
            finally:
                _chattr("-i", *files)
            thread.submit(store.run, lambda session: session.probe_write()).result()
            written = thread.submit(
                store.run, lambda session: session.register_topic(b"d" * 4, "news")
            )
            written.result()
        assert store.read(lambda session: session.topic_name(b"d" * 4)) == "news"
    finally:
        store.close()
