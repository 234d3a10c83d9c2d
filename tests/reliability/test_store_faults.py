"""Store faults under load: 503 and 451 while the store cannot commit, recovery without a restart.

A locked SQLite database (another connection holding the write lock past the busy
timeout), a read-only database file (``chattr +i``: even root cannot write it), a full
disk (the server's file-size limit lowered to one page with ``prlimit``) and a
PostgreSQL stopped and started again, each in the middle of a load of one-click POSTs
and SMTP unsubscribes. While the fault lasts clients see only 503 (HTTP) and 451
(SMTP) — never 200/250 for something not committed, never a 500 or a dropped
connection; once the store is back the same server process acknowledges everything,
and every acknowledged request is in the store exactly once.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.store.postgres import POOL_TIMEOUT
from tests.reliability.load import Tally, audit, drive, make_requests
from tests.reliability.server import ServerFactory, ServerProcess, settings_for

OUTAGE = 8.0  # seconds the store stays broken (longer than SQLite's 5 s busy timeout)
# PostgreSQL stays down longer than the pool waits for a connection, so store calls
# block for the whole pool timeout, one after another: the SMTP sidecar must still
# answer every sender (451 within its reply deadline) and never let a session drop.
POSTGRES_OUTAGE = POOL_TIMEOUT + 4.0


def run_through_fault(
    server: ServerProcess,
    tmp_path: Path,
    fault: Callable[[], contextlib.AbstractContextManager[None]],
    label: str,
    capsys: pytest.CaptureFixture[str],
    outage: float = OUTAGE,
    pace: float = 0.1,
) -> Tally:
    pid = server.proc.pid if server.proc else None
    settings = settings_for(server.values, tmp_path)
    with PreferenceCenter(settings) as center:
        requests = make_requests(center, label, 150, 150)
    result: list[Tally] = []
    # Slow the load down so that it is still sending when the fault begins, however fast
    # the server answers (150 requests a kind, 4 workers, ``pace`` 0.1 s: about 4 s).
    loader = threading.Thread(
        target=lambda: result.append(
            drive(
                requests,
                [server.url],
                [("127.0.0.1", server.smtp_port)],
                deadline=time.monotonic() + 120,
                http_workers=4,
                smtp_workers=4,
                pace=pace,
            )
        )
    )
    loader.start()
    time.sleep(0.3)
    broken = time.monotonic()
    with fault():
        time.sleep(outage)
    broken = time.monotonic() - broken
    loader.join(180)
    (tally,) = result
    assert server.proc is not None and server.proc.pid == pid and server.proc.poll() is None
    assert server.starts == 1  # recovered without a restart
    with PreferenceCenter(settings) as center:
        found = audit(center, requests, tally)
    with capsys.disabled():
        print(
            f"\n{found.line(f'fault/{label}')}; store broken {broken:.1f} s, "
            f"answers while broken {dict(tally.retries)}"
        )
    assert tally.refused == []
    assert set(tally.retries) <= {"503", "451"}  # never a 500, never a dropped connection
    assert tally.retries["503"] > 0 and tally.retries["451"] > 0  # the fault was hit
    assert found.lost == [] and found.duplicates == [] and found.resent_duplicates == []
    assert found.found == found.acknowledged == len(requests)
    return tally


@pytest.mark.timeout(300)
def test_locked_sqlite_database(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(sqlite_url)

    @contextlib.contextmanager
    def locked() -> Iterator[None]:
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    run_through_fault(server, tmp_path, locked, "locked", capsys)


def _chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


@pytest.mark.timeout(300)
def test_read_only_sqlite_database(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(sqlite_url)
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    files = [db, db.with_name(db.name + "-wal")]
    try:
        _chattr("+i", *files)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("this filesystem has no immutable flag (chattr +i)")
    _chattr("-i", *files)

    @contextlib.contextmanager
    def read_only() -> Iterator[None]:
        _chattr("+i", *files)
        try:
            yield
        finally:
            _chattr("-i", *files)

    run_through_fault(server, tmp_path, read_only, "read-only", capsys)


@pytest.mark.timeout(300)
def test_full_disk(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(sqlite_url, start=False)
    server.start()
    assert server.proc is not None
    pid = server.proc.pid

    @contextlib.contextmanager
    def full() -> Iterator[None]:
        # Writing past the limit fails with EFBIG, as a full disk fails with ENOSPC.
        # SIGXFSZ would kill the server instead, so it is ignored while the limit holds.
        limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        ignore_sigxfsz(pid)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (4096, limits[1]))
        try:
            yield
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)

    run_through_fault(server, tmp_path, full, "disk-full", capsys)


def ignore_sigxfsz(pid: int) -> None:
    """Skip unless the server already ignores SIGXFSZ (it cannot be changed from outside)."""
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16
    )
    if not ignored & (1 << (signal.SIGXFSZ - 1)):
        pytest.skip("the server does not ignore SIGXFSZ, so a file-size limit would kill it")


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_postgres_stopped_and_started_mid_load(
    serve: ServerFactory,
    own_postgres: tuple[str, Callable[[], None], Callable[[], None]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, stop, start = own_postgres
    server = serve(url)

    @contextlib.contextmanager
    def restarted() -> Iterator[None]:
        stop()
        try:
            yield
        finally:
            start()

    # Unpaced: every store call blocks for the pool timeout, so the load spans the
    # outage anyway, and more calls in flight meet it.
    run_through_fault(
        server, tmp_path, restarted, "postgres-restart", capsys, outage=POSTGRES_OUTAGE, pace=0
    )
