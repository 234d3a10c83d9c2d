"""Load drivers for the reliability tests: one-click POSTs and SMTP unsubscribes that
retry like real senders, a killer thread, and the audit of what survived.

A client retries a request until it is acknowledged (200 / 250) or the run's deadline
passes, exactly as a mailbox provider or an MTA does: connection errors, 503 and 451
mean "try again". What the server acknowledged is recorded; afterwards a fresh
``PreferenceCenter`` on the same database must hold each acknowledged request exactly
once.
"""

from __future__ import annotations

import contextlib
import queue
import random
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from prefcenter.center import PreferenceCenter
from prefcenter.config import Settings
from prefcenter.model import Action

ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"content-type": "application/x-www-form-urlencoded"}

#: How long a client waits for an answer. The SMTP sidecar answers DATA within
#: REPLY_TIMEOUT even when the store hangs (451), so a client that waits twice as long
#: and still times out has caught a server that does not answer: tallied as a timeout,
#: never as a retry the server asked for.
REPLY_TIMEOUT = Settings().store_timeout.total_seconds()
CLIENT_TIMEOUT = 2 * REPLY_TIMEOUT


@dataclass(frozen=True)
class Request:
    """One opt-out to deliver: the address it concerns and how to send it."""

    address: str
    kind: str  # "http" or "smtp"
    target: str  # the /u/ path, or the unsubscribe+token@ address
    message_id: str = ""
    resend: bool = False  # send again with the same Message-ID after the first 250


@dataclass
class Tally:
    """What clients saw, shared by every worker thread."""

    acknowledged: set[str] = field(default_factory=set)
    sent: Counter[str] = field(default_factory=Counter)  # attempts that may have arrived
    resent: set[str] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # answers that are neither ok nor retry
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, request: Request) -> None:
        with self.lock:
            self.acknowledged.add(request.address)

    def retry(self, why: str) -> None:
        with self.lock:
            self.retries[why] += 1

    def refuse(self, why: str) -> None:
        with self.lock:
            self.refused.append(why)


def path_of(url: str) -> str:
    """``/u/TOKEN`` of a link the center made."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def make_requests(
    center: PreferenceCenter, prefix: str, http_count: int, smtp_count: int, resend_every: int = 10
) -> list[Request]:
    """Distinct people for each request; every ``resend_every``-th mail is sent twice."""
    requests = []
    for number in range(http_count):
        address = f"{prefix}-h{number}@example.com"
        requests.append(Request(address, "http", path_of(center.unsubscribe_url(address))))
    for number in range(smtp_count):
        address = f"{prefix}-s{number}@example.org"
        mailto = center.links.mailto_address(center.identity(address), None)
        requests.append(
            Request(
                address,
                "smtp",
                mailto,
                message_id=f"<{prefix}-s{number}@client.example.org>",
                resend=number % resend_every == 0,
            )
        )
    random.shuffle(requests)
    return requests


def mail_bytes(request: Request) -> bytes:
    return (
        f"From: <{request.address}>\r\nTo: <{request.target}>\r\n"
        f"Subject: unsubscribe\r\nMessage-ID: {request.message_id}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nPlease unsubscribe me.\r\n"
    ).encode()


def _send_http(
    urls: Sequence[str], items: queue.Queue[Request], tally: Tally, deadline: float, pace: float
) -> None:
    client = httpx.Client(timeout=CLIENT_TIMEOUT)
    try:
        while True:
            try:
                request = items.get_nowait()
            except queue.Empty:
                return
            while time.monotonic() < deadline:
                url = random.choice(urls)
                with tally.lock:
                    tally.sent[request.address] += 1
                try:
                    response = client.post(url + request.target, content=ONE_CLICK, headers=FORM)
                except httpx.TransportError as error:
                    tally.retry(type(error).__name__)
                    client.close()
                    client = httpx.Client(timeout=CLIENT_TIMEOUT)
                    time.sleep(0.2)
                    continue
                if response.status_code == 200:
                    tally.ack(request)
                    break
                if response.status_code == 503:
                    tally.retry("503")
                    time.sleep(0.1)
                    continue
                tally.refuse(f"HTTP {response.status_code}")
                break
            time.sleep(pace)
    finally:
        client.close()


def _smtp_once(server: smtplib.SMTP, request: Request) -> None:
    server.sendmail(request.address, [request.target], mail_bytes(request))


def _send_smtp(
    addresses: Sequence[tuple[str, int]],
    items: queue.Queue[Request],
    tally: Tally,
    deadline: float,
    pace: float,
) -> None:
    connection: smtplib.SMTP | None = None
    try:
        while True:
            try:
                request = items.get_nowait()
            except queue.Empty:
                return
            sends = 2 if request.resend else 1
            while sends and time.monotonic() < deadline:
                try:
                    if connection is None:
                        connection = smtplib.SMTP(*random.choice(addresses), timeout=CLIENT_TIMEOUT)
                    _smtp_once(connection, request)
                except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as error:
                    code = getattr(error, "smtp_code", 0)
                    if isinstance(error, smtplib.SMTPRecipientsRefused):
                        code = next(iter(error.recipients.values()))[0]
                    if 400 <= code < 500:
                        tally.retry(str(code))
                        _close(connection)
                        connection = None
                        time.sleep(0.1)
                        continue
                    tally.refuse(f"SMTP {code}")
                    break
                except (OSError, smtplib.SMTPException) as error:
                    tally.retry(_why(error))
                    _close(connection)
                    connection = None
                    time.sleep(0.2)
                    continue
                sends -= 1
                tally.ack(request)
                if request.resend and sends == 0:
                    with tally.lock:
                        tally.resent.add(request.address)
            time.sleep(pace)
    finally:
        _close(connection)


def _why(error: BaseException) -> str:
    """The tally key of a failed exchange; smtplib reports its own socket timeout as a
    disconnect, which must not be mistaken for the server closing the connection."""
    name = type(error).__name__
    if isinstance(error, smtplib.SMTPServerDisconnected) and "timed out" in str(error):
        return f"{name} (client timed out)"
    return name


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is None:
        return
    with contextlib.suppress(OSError):
        connection.close()


def drive(
    requests: Sequence[Request],
    http_urls: Sequence[str],
    smtp_addresses: Sequence[tuple[str, int]],
    *,
    deadline: float,
    http_workers: int = 8,
    smtp_workers: int = 6,
    extra: Sequence[Callable[[], Any]] = (),
    tally: Tally | None = None,
    pace: float = 0.0,
) -> Tally:
    """Send every request from worker threads; return what was acknowledged (in
    ``tally`` when one is given, so another thread can follow the progress). Each worker
    waits ``pace`` seconds between requests, so that a load can span a time window
    however fast the server answers."""
    tally = Tally() if tally is None else tally
    http_items: queue.Queue[Request] = queue.Queue()
    smtp_items: queue.Queue[Request] = queue.Queue()
    for request in requests:
        (http_items if request.kind == "http" else smtp_items).put(request)
    threads = [
        threading.Thread(target=_send_http, args=(http_urls, http_items, tally, deadline, pace))
        for _ in range(http_workers)
    ] + [
        threading.Thread(
            target=_send_smtp, args=(smtp_addresses, smtp_items, tally, deadline, pace)
        )
        for _ in range(smtp_workers)
    ]
    threads += [threading.Thread(target=function) for function in extra]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


class Killer:
    """Kill -9 a server at random points of the load's progress and restart it each time.

    The points are acknowledgement counts drawn at random between 5% and 90% of the
    requests, so the kills are tied to progress, not to the clock: the load cannot end
    without passing every point, and each kill lands while at least a tenth of the
    requests are still outstanding, on a slow machine or a fast one.

    Args:
        servers: the server processes; each kill picks one at random.
        tally: the load's tally, whose acknowledgements drive the schedule.
        total: how many requests the load sends.
        kills: how many kills to make.
    """

    def __init__(self, servers: Sequence[Any], tally: Tally, *, total: int, kills: int) -> None:
        self.servers = servers
        self.tally = tally
        self.points = sorted(random.sample(range(total * 5 // 100, total * 90 // 100), kills))
        self.kills = 0
        self.downtime = 0.0
        self.acknowledged_at_kill: list[int] = []  # acknowledged requests at each kill
        self.done = threading.Event()
        self.errors: list[BaseException] = []

    def _acknowledged(self) -> int:
        with self.tally.lock:
            return len(self.tally.acknowledged)

    def run(self) -> None:
        try:
            for point in self.points:
                while self._acknowledged() < point:
                    if self.done.wait(0.01):
                        return
                server = random.choice(self.servers)
                down = time.monotonic()
                server.kill()
                self.acknowledged_at_kill.append(self._acknowledged())
                self.kills += 1
                server.start()
                self.downtime += time.monotonic() - down
        except BaseException as error:  # reported by the test, never swallowed
            self.errors.append(error)


@dataclass(frozen=True)
class Audit:
    """What a fresh center finds for the acknowledged requests.

    A duplicate is a second active suppression for one person, two events with the
    same evidence, a second event for one mail, or more events than POSTs sent.
    """

    acknowledged: int
    found: int
    lost: list[str]
    duplicates: list[str]
    resent_duplicates: list[str]

    def line(self, label: str) -> str:
        return (
            f"{label}: requests acknowledged {self.acknowledged}, found after recovery "
            f"{self.found}, lost {len(self.lost)} (must be 0), duplicates "
            f"{len(self.duplicates) + len(self.resent_duplicates)} (must be 0)"
        )


def audit(center: PreferenceCenter, requests: Sequence[Request], tally: Tally) -> Audit:
    """Every acknowledged request suppressed, with exactly one suppress event; every
    request (acknowledged or not) at most one."""
    found = 0
    lost: list[str] = []
    duplicates: list[str] = []
    resent_duplicates: list[str] = []
    for request in requests:
        events = [e for e in center.history(request.address) if e.action is Action.SUPPRESS]
        active = center.suppressions(request.address)
        if request.address in tally.acknowledged:
            if active and events:
                found += 1
            else:
                lost.append(request.address)
        evidences = Counter(e.evidence for e in events)
        if len(active) > 1 or any(count > 1 for count in evidences.values()):
            (resent_duplicates if request.resend else duplicates).append(request.address)
        elif request.kind == "smtp" and len(events) > 1:
            # Every delivery of one mail carries its Message-ID: one event at most.
            (resent_duplicates if request.resend else duplicates).append(request.address)
        elif request.kind == "http" and len(events) > max(1, tally.sent[request.address]):
            # A retried POST is a new request (its own request id, its own event), but
            # never more events than POSTs sent.
            duplicates.append(request.address)
    return Audit(len(tally.acknowledged), found, lost, duplicates, resent_duplicates)
