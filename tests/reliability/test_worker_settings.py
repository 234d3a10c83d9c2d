"""``serve``'s webhook worker child loads the settings its parent did, from its environment.

A store URL may hold a password, and a child's command line is visible to every user of
the host: the worker used to get ``--database`` on its own command line (copied from the
parent's). Here the store is named only on the parent's command line; the worker must
still find it (a change is delivered) without the URL on its command line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx

from prefcenter.center import PreferenceCenter
from tests.reliability.load import path_of
from tests.reliability.server import ServerProcess, server_values, settings_for
from tests.webhooks.conftest import SECRET
from tests.webhooks.receiver import Receiver


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_the_webhook_worker_gets_the_store_from_its_environment(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'named-on-the-command-line.db'}"
    receiver = Receiver(SECRET)
    values = server_values(
        database, tmp_path, events_webhook_url=receiver.url, events_webhook_secret=SECRET
    )
    del values["database"]  # only on serve's command line
    server = ServerProcess(
        values,
        tmp_path / "server.log",
        command=(sys.executable, "-m", "prefcenter", "--database", database),
    )
    server.start()
    try:
        assert server.proc is not None
        workers: list[int] = []
        deadline = time.monotonic() + 30
        while not workers and time.monotonic() < deadline:
            workers = [
                pid for pid in children_of(server.proc.pid) if "webhooks" in command_line(pid)
            ]
            time.sleep(0.05)
        assert workers, server.logs()[-2000:]
        assert all(database not in " ".join(command_line(pid)) for pid in workers)
        with PreferenceCenter(settings_for({**values, "database": database}, tmp_path)) as center:
            link = path_of(center.unsubscribe_url("reader@example.com"))
        answer = httpx.post(
            server.url + link, content=b"List-Unsubscribe=One-Click", timeout=10,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        assert answer.status_code == 200
        assert receiver.wait_for(1, 60), server.logs()[-2000:]
    finally:
        server.stop()
        receiver.down()
