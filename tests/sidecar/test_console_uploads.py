"""The list check's limits over real sockets: a list over 64 MiB, and a third check at once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from prefcenter.sidecar.console.listjobs import MAX_RUNNING, ListChecks
from prefcenter.sidecar.console.state import MAX_UPLOAD_BYTES
from tests.sidecar.console_live import LiveConsole, console_settings, csrf_of, live_console
from tests.sidecar.test_console_lists import LIST

BOUNDARY = "list-check-boundary-7d1f"
#: One block of the list as it is sent (64 KiB of rows): the test never holds more.
BLOCK = b"someone.on.the.list@example.com\n" * 2048


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LiveConsole]:
    with live_console(console_settings(tmp_path)) as live:
        yield live


def _kept(live: LiveConsole) -> list[str]:
    """What the list checks keep on disk."""
    folder = live.settings.var_path / "console-lists"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _over_the_limit(token: str) -> tuple[int, Iterator[bytes]]:
    """A list check form whose file is one block over the limit: its length, and its
    bytes made a block at a time."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="list"; '
        'filename="everyone.csv"\r\nContent-Type: text/csv\r\n\r\nemail\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    blocks = MAX_UPLOAD_BYTES // len(BLOCK) + 1

    def parts() -> Iterator[bytes]:
        yield head
        for _ in range(blocks):
            yield BLOCK
        yield tail

    return len(head) + blocks * len(BLOCK) + len(tail), parts()


def _read_answer(sock: socket.socket) -> tuple[int, str]:
    """An HTTP/1.1 answer with a Content-Length: its status and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of the answer"
        body += chunk
    return int(lines[0].split()[1]), body.decode()


def _post_streamed(live: LiveConsole, client: httpx.Client, framing: str) -> tuple[int, str]:
    """POST the over-the-limit form to /lists on a socket of its own, sent block by block
    (``chunked``, or with its ``content-length`` declared) while the answer is read."""
    token = csrf_of(client.get("/lists").text)
    length, body = _over_the_limit(token)
    url = urlsplit(live.url)
    assert url.hostname is not None and url.port is not None
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    framed = "transfer-encoding: chunked" if framing == "chunked" else f"content-length: {length}"
    head = (
        f"POST /lists HTTP/1.1\r\nhost: {url.netloc}\r\ncookie: {cookies}\r\n"
        f"content-type: multipart/form-data; boundary={BOUNDARY}\r\n{framed}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        sock.sendall(head.encode())

        def send() -> None:
            try:
                for part in body:
                    chunked = framing == "chunked"
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                if framing == "chunked":
                    sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the console answered and closed the connection: the rest is not read

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            return _read_answer(sock)
        finally:
            sock.shutdown(socket.SHUT_RDWR)  # stop the sender, wherever it is
            sender.join(60)
            assert not sender.is_alive()


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_list_over_the_limit_is_refused_with_a_page_and_nothing_kept(
    console: LiveConsole, framing: str
) -> None:
    client = console.login("abe")
    status, page = _post_streamed(console, client, framing)
    assert status == 413
    assert "<h1>Upload too large</h1>" in page
    assert "The console checks lists of up to 64 MiB; this upload was larger" in page
    assert "Split the list into smaller files" in page
    assert '<a href="/lists">Back to the list check</a>' in page
    assert _kept(console) == []  # the part written before the limit was removed
    # The console is still up, and the next list is checked.
    answer = client.post(
        "/lists",
        data={"csrf": csrf_of(client.get("/lists").text)},
        files={"list": ("small.csv", LIST.encode(), "text/csv")},
    )
    assert answer.status_code == 303


def test_two_checks_run_at_once_and_a_third_is_refused_until_one_is_done(
    tmp_path: Path,
) -> None:
    held: list[str] = []
    release = threading.Event()

    def pace(key: str, done: int) -> None:
        if done == 0:  # each check waits here, running, until the test lets it go
            held.append(key)
            release.wait(60)

    settings = console_settings(tmp_path)
    checks = ListChecks(settings.var_path / "console-lists", pace=pace)
    with live_console(settings, list_checks=checks) as console:
        try:
            client = console.login("abe")
            other = console.login("ada")

            def upload(who: httpx.Client, name: str) -> httpx.Response:
                return who.post(
                    "/lists",
                    data={"csrf": csrf_of(who.get("/lists").text)},
                    files={"list": (name, LIST.encode(), "text/csv")},
                )

            running = [upload(client, "first.csv"), upload(other, "second.csv")]
            assert [answer.status_code for answer in running] == [303] * MAX_RUNNING
            for who, answer in zip((client, other), running, strict=True):
                assert who.get(answer.headers["location"]).headers["refresh"] == "2"
            refused = upload(client, "third.csv")
            assert refused.status_code == 422
            assert (
                "Nothing was changed. 2 lists are being checked already; wait until one is "
                "done, then upload this one again." in refused.text
            )
            assert '<a href="/lists">Back to the list check</a>' in refused.text
            assert len(_kept(console)) == MAX_RUNNING  # nothing of the third was kept
        finally:
            release.set()
        for who, answer in zip((client, other), running, strict=True):
            page = _wait_done(who, answer.headers["location"])
            assert "1 of 3 rows may be sent" in page.text
        keys = {answer.headers["location"].rsplit("/", 1)[1] for answer in running}
        assert keys <= set(held)  # both were held running, not merely slow
        assert upload(client, "third.csv").status_code == 303


def _wait_done(client: httpx.Client, where: str) -> httpx.Response:
    """The status page once it stops reloading itself (the check is over)."""
    for _ in range(600):  # bounded: a three-row check ends in far less
        page = client.get(where)
        if "refresh" not in page.headers:
            return page
        threading.Event().wait(0.05)
    raise AssertionError(f"{where} still running")
