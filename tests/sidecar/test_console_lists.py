"""The console's list check over real HTTP: the upload on disk, progress, results, keeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefcenter.sidecar.console.listjobs import (
    KEEP_SECONDS,
    MAX_KEPT,
    ListChecks,
    process_started,
)
from tests.sidecar.console_live import LiveConsole, console_settings, csrf_of, live_console

LIST = "email,name\ngone@example.org,Gone\nnew@example.org,New\nnot-an-address,X\n"


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveConsole]:
    with live_console(console_settings(tmp_path)) as live:
        yield live


def _folder(live: LiveConsole) -> Path:
    return live.settings.var_path / "console-lists"


def _upload(
    client: httpx.Client, body: bytes, token: str, name: str = "spring.csv"
) -> httpx.Response:
    return client.post(
        "/lists",
        data={"csrf": token, "topic": "", "channel": "email", "kind": "marketing"},
        files={"list": (name, body, "text/csv")},
    )


def _finished(client: httpx.Client, where: str) -> httpx.Response:
    """The status page once the check is no longer running (bounded wait)."""
    deadline = time.monotonic() + 30
    while True:
        page = client.get(where)
        if "refresh" not in page.headers or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def test_a_list_is_checked_on_disk_and_shown_to_its_operator_only(
    console: LiveConsole,
) -> None:
    client = console.login("abe")
    token = csrf_of(client.get("/lists").text)
    answer = _upload(client, LIST.encode(), token)
    assert answer.status_code == 303
    where = answer.headers["location"]
    key = where.rsplit("/", 1)[1]
    page = _finished(client, where)
    assert "spring.csv: 1 of 3 rows may be sent" in page.text
    folder = _folder(console) / key
    # The results are files (owner-only), and the upload is gone once screened.
    assert sorted(p.name for p in folder.iterdir()) == [
        "rejects.csv",
        "sendable.csv",
        "status.json",
    ]
    assert folder.stat().st_mode & 0o077 == 0
    assert client.get(f"{where}/sendable.csv").text == "email,name\nnew@example.org,New\n"
    rejects = client.get(f"{where}/rejects.csv")
    assert rejects.headers["content-disposition"].startswith("attachment;")
    assert rejects.text == "reason,email,name\nunsubscribed_global,gone@example.org,Gone\ninvalid,not-an-address,X\n"  # fmt: skip
    assert f'href="/lists/{key}"' in client.get("/lists").text  # the operator's recent checks
    other = console.login("ada")
    assert other.get(where).status_code == 404
    assert other.get(f"{where}/sendable.csv").status_code == 404
    assert f'href="/lists/{key}"' not in other.get("/lists").text
    assert client.get("/lists/..%2F..%2Fsecret").status_code == 404


def test_a_large_list_streams_through_and_every_row_is_counted(console: LiveConsole) -> None:
    client = console.login("abe")
    token = csrf_of(client.get("/lists").text)
    rows = 60_000  # about 1.7 MB: more than one block of the engine, more than one chunk
    body = "email\n" + "".join(f"person{n}@example.com\n" for n in range(rows))
    answer = _upload(client, body.encode(), token, name="big list.csv")
    page = _finished(client, answer.headers["location"])
    assert f"big list.csv: {rows} of {rows} rows may be sent" in page.text
    sendable = client.get(answer.headers["location"] + "/sendable.csv")
    assert sendable.text == body
    assert (
        sendable.headers["content-disposition"]
        == "attachment; filename*=utf-8''big%20list-sendable.csv"
    )


def test_an_upload_without_its_token_stores_nothing(console: LiveConsole) -> None:
    client = console.login("abe")
    other = console.login("ada")
    foreign = csrf_of(other.get("/lists").text)
    assert _upload(client, LIST.encode(), foreign).status_code == 403
    assert _upload(client, LIST.encode(), "").status_code == 403
    assert list(_folder(console).iterdir()) == []


def test_a_file_that_is_not_text_fails_with_a_sentence(console: LiveConsole) -> None:
    client = console.login("abe")
    token = csrf_of(client.get("/lists").text)
    answer = _upload(client, b"email\x00\x01\x02 binary\n" * 10, token)
    page = _finished(client, answer.headers["location"])
    assert "The list could not be checked" in page.text
    assert client.get(answer.headers["location"] + "/sendable.csv").status_code == 404


def _status(
    live: LiveConsole, key: str, pid: int, owner: str = "abe", started: int | None = None
) -> None:
    """A check as another console process writes it while screening (``started``: that
    process's start time; None: as a console before it was recorded wrote it)."""
    folder = _folder(live) / key
    folder.mkdir(parents=True)
    status = {"owner": owner, "name": "big.csv", "state": "running", "size": 4_000_000,
              "done": 1_000_000, "created": time.time(), "pid": pid}  # fmt: skip
    if started is not None:
        status["started"] = started
    (folder / "status.json").write_text(json.dumps(status))


def test_a_running_check_reloads_itself_until_asked_not_to(console: LiveConsole) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _status(console, "A" * 16, other.pid)
        client = console.login("abe")
        page = client.get("/lists/" + "A" * 16)
        assert page.headers["refresh"] == "2"
        assert 'value="25"' in page.text and "Checking: 25 % of 4,000,000 bytes" in page.text
        still = client.get("/lists/" + "A" * 16 + "?still=1")
        assert "refresh" not in still.headers
        assert "See how far it got" in still.text
    finally:
        other.kill()
        other.wait(10)
    # Its process is gone: the check was cut short, and says so.
    page = client.get("/lists/" + "A" * 16)
    assert "refresh" not in page.headers
    assert "The check was interrupted" in page.text


def test_a_check_whose_process_id_was_given_to_another_process_shows_interrupted(
    console: LiveConsole,
) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_started(other.pid)
        assert started is not None
        _status(console, "A" * 16, other.pid, started=started)  # the process that wrote it
        _status(console, "B" * 16, other.pid, started=started - 1)  # an earlier one, gone
        # This console's own id, from a console that ran before it (a container restart).
        own = process_started(os.getpid())
        assert own is not None
        _status(console, "C" * 16, os.getpid(), started=own - 1)
        client = console.login("abe")
        assert client.get("/lists/" + "A" * 16).headers["refresh"] == "2"
        for key in ("B" * 16, "C" * 16):
            page = client.get("/lists/" + key)
            assert "refresh" not in page.headers
            assert "The check was interrupted" in page.text
    finally:
        other.kill()
        other.wait(10)


def test_old_checks_and_the_oldest_beyond_the_limit_are_removed(tmp_path: Path) -> None:
    checks = ListChecks(tmp_path / "lists")
    now = time.time()
    made = []
    for n in range(MAX_KEPT + 3):  # as checks leave them: later ones here are older
        folder = tmp_path / "lists" / f"{n:016d}"
        folder.mkdir(parents=True)
        (folder / "status.json").write_text("{}")
        os.utime(folder / "status.json", (now - n, now - n))
        made.append(folder.name)
    stale = tmp_path / "lists" / ("B" * 16)
    stale.mkdir()
    (stale / "status.json").write_text("{}")
    os.utime(stale / "status.json", (now - KEEP_SECONDS - 1, now - KEEP_SECONDS - 1))
    key, _ = checks.new()  # sweeps first: room for this one
    left = {p.name for p in (tmp_path / "lists").iterdir()}
    assert left == set(made[: MAX_KEPT - 1]) | {key}


class _FinishingWhileAsked(ListChecks):
    """The worker writes its result and ends just as a status page asks whether it lives."""

    def _alive(self, key: str, pid: int, started: int | None) -> bool:
        self._write(key, owner="abe", name="l.csv", state="done", size=10, done=10, summary={})
        return False


def test_a_check_that_finishes_while_its_page_is_read_shows_done_not_interrupted(
    tmp_path: Path,
) -> None:
    checks = _FinishingWhileAsked(tmp_path / "lists")
    key, _ = checks.new()
    checks._write(key, owner="abe", name="l.csv", state="running", size=10, done=5)
    seen = checks.get(key, "abe")
    assert seen is not None and seen.state == "done"


def test_a_check_whose_worker_is_gone_shows_interrupted(tmp_path: Path) -> None:
    checks = ListChecks(tmp_path / "lists")
    key, _ = checks.new()
    checks._write(key, owner="abe", name="l.csv", state="running", size=10, done=5)
    seen = checks.get(key, "abe")  # no worker of this process screens it
    assert seen is not None and seen.state == "interrupted"


def test_a_process_start_time_is_read_whatever_the_process_calls_itself() -> None:
    # The name in /proc/<pid>/stat is in parentheses and may hold spaces and ")" itself.
    rename = (
        "import ctypes, sys; sys.stdin.readline(); "
        "ctypes.CDLL(None).prctl(15, b'a) b (c', 0, 0, 0); print('renamed', flush=True); "
        "sys.stdin.readline()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", rename], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as other:
        assert other.stdin is not None and other.stdout is not None
        try:
            before = process_started(other.pid)
            other.stdin.write("\n")
            other.stdin.flush()
            assert other.stdout.readline() == "renamed\n"
            assert b"(a) b (c) " in Path(f"/proc/{other.pid}/stat").read_bytes()
            assert before is not None and process_started(other.pid) == before
        finally:
            other.kill()
            other.wait(10)
    assert process_started(other.pid) is None  # gone
