"""``prefcenter serve``: both sidecars in one process, the console in a child, stopped
gracefully by a signal."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from prefcenter.model import Purged
from tests.cli.conftest import Prefcenter, one_error_line

READY = re.compile(r"HTTP on (http://127\.0\.0\.1:\d+), SMTP on 127\.0\.0\.1:(\d+)")


@pytest.fixture
def serve(prefcenter_sqlite: Prefcenter) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``prefcenter serve``; whatever happens, kill it and close its pipes after."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, **env: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefcenter", "serve", *args],
            env=prefcenter_sqlite.environment(**env),
            cwd=prefcenter_sqlite.tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_on_signal(
    serve: Callable[..., subprocess.Popen[str]], sig: int
) -> None:
    process = serve("--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
    assert process.stderr is not None
    seen: list[str] = []
    ready: re.Match[str] | None = None
    for line in process.stderr:  # log lines (INFO) may come first
        seen.append(line)
        if ready := READY.search(line):
            break
    assert ready, seen
    assert httpx.get(ready[1] + "/healthz", timeout=10).status_code == 200
    with smtplib.SMTP("127.0.0.1", int(ready[2]), timeout=10) as smtp:
        assert smtp.noop()[0] == 250
    process.send_signal(sig)
    assert process.wait(timeout=30) == 0
    rest = process.stderr.read()
    assert "prefcenter stopping: finishing in-flight requests" in rest
    assert "Traceback" not in rest


def test_serve_on_a_busy_port_is_one_line(prefcenter_sqlite: Prefcenter) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = prefcenter_sqlite("serve", "--http", f"127.0.0.1:{port}", "--smtp", "127.0.0.1:0")
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: The HTTP sidecar cannot listen on 127.0.0.1:{port} (Address already in use); "
        "stop what uses it, or pass --http HOST:PORT (or set PREFCENTER_HTTP=HOST:PORT, as "
        "`make run` needs)."
    )


def test_serve_with_an_unknown_log_level_is_one_line(prefcenter_sqlite: Prefcenter) -> None:
    result = prefcenter_sqlite("serve", PREFCENTER_LOG_LEVEL="loud")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "Error: Setting LOG_LEVEL has value 'loud'; write debug, info, warning or error."
    )


def test_serve_purges_daily_and_retries_a_failure(tmp_path: Path) -> None:
    # The loop `serve` runs, with seconds for days: a failure is logged and retried.
    from prefcenter.center import PreferenceCenter
    from prefcenter.cli.serve import purge_daily
    from prefcenter.errors import StoreUnavailable
    from tests.conftest import make_settings

    calls: list[str] = []
    stops: list[threading.Event | None] = []

    class Flaky:
        def purge(self, stop: threading.Event | None = None) -> Purged:
            calls.append("purge")
            stops.append(stop)
            if len(calls) == 1:
                raise StoreUnavailable("the store is down (injected)")
            if len(calls) == 3 and stop is not None:  # a long purge, running at shutdown
                stop.wait(5)
            return real.purge(stop=stop)

    async def run() -> None:
        task = asyncio.create_task(
            purge_daily(Flaky(), first=0.01, every=0.05, retry=0.01)  # type: ignore[arg-type]
        )
        for _ in range(200):  # bounded: at most 2 s
            if len(calls) >= 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the third purge is now waiting in its thread
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with PreferenceCenter(make_settings(tmp_path)) as real:
        asyncio.run(run())
    assert len(calls) >= 3  # failed, retried, and ran again a "day" later
    # Cancelling the loop (a shutdown) tells a purge in its thread to stop between chunks.
    assert stops[-1] is not None and stops[-1].is_set()


CONSOLE = re.compile(r"the operator console on (http://127\.0\.0\.1:\d+);")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    """Poll ``condition`` until it holds (bounded); fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_with_console(
    serve: Callable[..., subprocess.Popen[str]],
) -> tuple[subprocess.Popen[str], str, int]:
    """``serve`` with its console: the process, the console's URL, the console's pid."""
    process = serve("--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if ready := CONSOLE.search(line):
            break
    assert ready, seen
    url = ready[1]
    assert httpx.get(url + "/login", timeout=30).status_code == 200  # answered by the child
    (child,) = children(process.pid)
    return process, url, child


def test_serve_runs_the_console_in_a_child_it_restarts_and_stops(
    serve: Callable[..., subprocess.Popen[str]],
) -> None:
    process, url, child = start_with_console(serve)
    with open(f"/proc/{child}/cmdline", "rb") as cmdline:
        assert b"--listen-fd" in cmdline.read()
    # CONSOLE_NICE (5): the console leaves the CPU to one-click on a busy machine.
    assert niceness(child) == min(19, niceness(process.pid) + 5)
    os.kill(child, signal.SIGKILL)
    # The parent keeps the socket: this request waits in its backlog for the new child.
    assert httpx.get(url + "/login", timeout=60).status_code == 200
    (again,) = children(process.pid)
    assert again != child
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    wait_for(lambda: not alive(again), "the console child to exit")
    assert process.stderr is not None
    rest = process.stderr.read()
    assert "the operator console process exited with -9" in rest
    assert "Traceback" not in rest


def test_the_console_child_dies_with_a_killed_serve(
    serve: Callable[..., subprocess.Popen[str]],
) -> None:
    process, _, child = start_with_console(serve)
    process.kill()
    process.wait(timeout=30)
    wait_for(lambda: not alive(child), "the orphaned console child to exit")


def test_serve_on_a_busy_console_port_is_one_line(prefcenter_sqlite: Prefcenter) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = prefcenter_sqlite(
            "serve", "--http", "127.0.0.1:0", "--no-smtp", "--console", f"127.0.0.1:{port}",
        )  # fmt: skip
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: The console sidecar cannot listen on 127.0.0.1:{port} (Address already in "
        "use); stop what uses it, or pass --console HOST:PORT (or set "
        "PREFCENTER_CONSOLE=HOST:PORT, as `make run` needs)."
    )


def test_an_empty_console_setting_starts_no_console(
    serve: Callable[..., subprocess.Popen[str]],
) -> None:
    process = serve("--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0", PREFCENTER_CONSOLE="")
    assert process.stderr is not None
    for line in process.stderr:
        if READY.search(line):
            break
    assert "console" not in line
    assert children(process.pid) == []
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
