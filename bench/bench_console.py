"""The operator console's pages on a large store, and one-click while an operator browses.

Builds a SQLite store with 1,000,000 suppressions, 100,000 audit events over 30 days,
10,000 open exceptions (each holding a 2 KB message) and 50,000 recorded sends
(``--quick``: a tenth of each), runs the console and the public sidecar in one event
loop as ``prefcenter serve`` does, logs in, and measures over loopback:

- every console page, ``ROUNDS`` requests each: p50 and p95 in milliseconds, and the
  p95 against the login page (a template and no store read) measured in the same run;
- one-click POSTs (p50, p95) alone and while another client browses the console
  without pause, in alternating batches, and the ratio of the two p95s: with the
  console in the sidecar's process (``prefcenter serve``), then in a process of its
  own (``prefcenter serve --no-http --no-smtp``).

Target (issue 24): every page p95 <= 100 ms at this store size; one-click's p95 while
browsing within noise of its p95 alone.

Run: ``python -m bench.bench_console [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from prefcenter.center import PreferenceCenter
from prefcenter.config import load_settings
from prefcenter.model import Action, Channel, Contact, Kind, Scope, Source
from prefcenter.operators import Operators
from prefcenter.sidecar.console import ConsoleSidecar
from prefcenter.sidecar.http.server import HttpSidecar
from prefcenter.store.protocol import NewEvent
from prefcenter.topics import NO_TOPIC, topic_digest

SECRET = "bench-secret-0123456789abcdef0123"
PEPPER = "bench-pepper-0123456789abcdef0123"
PASSWORD = "bench operator password"
FORM = {"content-type": "application/x-www-form-urlencoded"}
ROUNDS = 60
WARMUP = 5
TARGET_MS = 100.0
PERSON = "user7@example7.com"
SOURCES = [Source.ONE_CLICK, Source.ONE_CLICK, Source.ONE_CLICK, Source.MAILTO, Source.WEB,
           Source.BOUNCE, Source.COMPLAINT, Source.API]  # fmt: skip


def person(i: int) -> str:
    return f"user{i}@example{i % 13}.com"


def mail(i: int) -> bytes:
    body = ("Please take me off this list, I never signed up. " * 30)[:1800]
    return (
        f"From: Person {i} <{person(i)}>\r\nTo: unsubscribe@unsub.example.com\r\n"
        f"Subject: Re: offer {i}\r\nMessage-ID: <bench-{i}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


def build(center: PreferenceCenter, rows: int, events: int, items: int, sends: int) -> None:
    """Fill the store through the session, in a few large transactions."""
    ids = center.identities
    now = datetime.now(UTC)
    rng = random.Random(24)
    with center.store.transaction() as session:
        for i in range(rows):
            session.suppress(
                ids.hash_key(ids.canonical(person(i))), Channel.EMAIL, Scope.GLOBAL, NO_TOPIC,
                all_channels=False, reason="", source=Source.IMPORT, at=now - timedelta(days=40),
            )  # fmt: skip
    # Events and sends are appended as they happen: in time order, as in a real store.
    moments = sorted(now - timedelta(seconds=rng.uniform(0, 30 * 86400)) for _ in range(events))
    with center.store.transaction() as session:
        for i, at in enumerate(moments):
            asked = at - timedelta(seconds=rng.expovariate(1 / 7200))
            who = PERSON if i % 5000 == 0 else person(rng.randrange(rows))
            session.append_event(
                NewEvent(
                    at,
                    ids.hash_key(ids.canonical(who)),
                    Action.SUPPRESS,
                    rng.choice(SOURCES),
                    Channel.EMAIL,
                    Scope.GLOBAL,
                    None,
                    "bench",
                    f"bench-{i}",
                    asked,
                )
            )
        sent = sorted(now - timedelta(seconds=rng.uniform(0, 30 * 86400)) for _ in range(sends))
        for at in sent:
            who = person(rows + rng.randrange(rows))  # mostly people who did not opt out
            digest = ids.hash_key(ids.canonical(who))
            contact = Contact(digest.hex(), Channel.EMAIL, "news", Kind.MARKETING, at, "crm", None)
            session.record_contact(contact, digest, topic_digest("news"))
    with center.store.transaction() as session:
        for i in range(items):
            received = now - timedelta(hours=rng.uniform(0, 96))
            session.open_exception(
                received_at=received, due_at=received + timedelta(days=2), mailbox=rng.choice(
                    ["unsubscribe", "bounces", "fbl"]), why="free-text reply", raw=mail(i),
                summary=f"From: {person(i)} Subject: Re: offer {i}", evidence=f"<bench-{i}@x>",
            )  # fmt: skip
    Operators(center).add("bench", "admin", PASSWORD)


class Servers:
    """The public sidecar and the console in one event loop, in a thread (as `serve` runs)."""

    def __init__(self, center: PreferenceCenter, settings: Any, *, console: bool = True) -> None:
        self.http = HttpSidecar(center, settings, host="127.0.0.1", port=0)
        self.console: ConsoleSidecar | None = None
        if console:
            self.console = ConsoleSidecar(center, settings, host="127.0.0.1", port=0)
        self._ready = threading.Event()
        self._stop: list[Callable[[], object]] = []
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        await self.http.start()
        if self.console is not None:
            await self.console.start()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._stop.append(lambda: loop.call_soon_threadsafe(done.set))
        self._ready.set()
        await done.wait()
        if self.console is not None:
            await self.console.stop()
        await self.http.stop()

    def __enter__(self) -> Servers:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the servers did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop[0]()
        self._thread.join(30)


def log_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/login").text
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    token = page[start : page.index('"', start)]
    answer = client.post("/login", data={"csrf": token, "name": "bench", "password": PASSWORD})
    assert answer.status_code == 303, answer.text[:300]
    return client


def timed(client: httpx.Client, path: str, rounds: int) -> list[float]:
    """Milliseconds per GET of ``path`` (after a warm-up); every answer must be 200."""
    for _ in range(WARMUP):
        client.get(path)
    found = []
    for _ in range(rounds):
        start = time.perf_counter()
        answer = client.get(path)
        found.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return found


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


def one_clicks(center: PreferenceCenter, url: str, start: int, count: int) -> list[float]:
    paths = ["/" + center.unsubscribe_url(person(start + i)).split("/", 3)[3] for i in range(count)]
    found = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for path in paths:
            begin = time.perf_counter()
            answer = client.post(path, content=b"List-Unsubscribe=One-Click", headers=FORM)
            found.append((time.perf_counter() - begin) * 1000)
            assert answer.status_code == 200
    return found


#: Rounds of one-click batches, alternately alone and while browsing (a burst of load on
#: the shared machine then hits both sides alike), and one-clicks per batch.
TURNS, BATCH = 6, 50


def turns(
    center: PreferenceCenter, http_url: str, console_url: str, start: int, first: int
) -> tuple[list[float], list[float]]:
    """One-click latencies alone and while another client browses the console without
    pause, measured in alternating batches."""
    browsing, stop = threading.Event(), threading.Event()

    def browse() -> None:
        operator = log_in(console_url)
        try:
            while not stop.is_set():
                if not browsing.wait(0.05):
                    continue
                for path in ("/queue", f"/person?q={PERSON}", "/report", f"/queue/{first}"):
                    operator.get(path)
        finally:
            operator.close()

    browser = threading.Thread(target=browse, daemon=True)
    browser.start()
    alone: list[float] = []
    busy: list[float] = []
    try:
        for turn in range(TURNS):
            browsing.clear()
            time.sleep(0.2)  # let a page in flight finish: "alone" means alone
            alone += one_clicks(center, http_url, start + 2 * turn * BATCH, BATCH)
            browsing.set()
            time.sleep(0.2)  # the operator is browsing before the batch starts
            busy += one_clicks(center, http_url, start + (2 * turn + 1) * BATCH, BATCH)
    finally:
        stop.set()
        browsing.set()
        browser.join(60)
    return alone, busy


def report(how: str, alone: list[float], busy: list[float]) -> None:
    print(
        f"one-click, {how}: alone p50 {statistics.median(alone):.1f} ms, "
        f"p95 {p95(alone):.1f} ms; while an operator browses p50 "
        f"{statistics.median(busy):.1f} ms, p95 {p95(busy):.1f} ms "
        f"({p95(busy) / p95(alone):.2f}x)"
    )


@contextlib.contextmanager
def own_process(settings: Any) -> Iterator[str]:
    """The console alone, as `prefcenter serve --no-http --no-smtp` runs it; its URL."""
    env = {
        **os.environ,
        "PREFCENTER_DATABASE": settings.database,
        "PREFCENTER_SECRET": SECRET,
        "PREFCENTER_PEPPER": PEPPER,
        "PREFCENTER_VAR_DIR": settings.var_dir,
        "PREFCENTER_CONSOLE": "127.0.0.1:0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "prefcenter", "serve", "--no-http", "--no-smtp"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:  # bounded: serve prints its ready line or exits
            found = re.search(r"console on (http://\S+?);", line)
            if found:
                yield found[1]
                return
        raise RuntimeError("the console process did not start")
    finally:
        process.terminate()
        process.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the store")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    rows, events, items, sends = (n // scale for n in (1_000_000, 100_000, 10_000, 50_000))
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        settings = load_settings(
            {"database": f"sqlite:///{Path(tmp) / 'store.db'}", "secret": SECRET,
             "pepper": PEPPER, "var_dir": tmp, "topics": "news=Newsletter;deals=Offers",
             "console": "127.0.0.1:0", "http": "127.0.0.1:0"},
            environ={}, generate_dev_keys=False,
        )  # fmt: skip
        center = PreferenceCenter(settings)
        started = time.perf_counter()
        build(center, rows, events, items, sends)
        size = sum(path.stat().st_size for path in Path(tmp).glob("store.db*"))
        print(
            f"store: {rows:,} suppressions, {events:,} audit events, {items:,} open exceptions, "
            f"{sends:,} sends; {size / 1e6:.0f} MB; built in {time.perf_counter() - started:.0f} s"
        )
        try:
            return measure(center, settings, rows)
        finally:
            center.close()


def measure(center: PreferenceCenter, settings: Any, rows: int) -> int:
    first = 1  # the first queued item
    pages = {
        "login (baseline)": "/login",
        "queue": "/queue",
        "queue, overdue, mailbox": "/queue?overdue=1&mailbox=fbl",
        "queue, page 100": "/queue?page=100",
        "item": f"/queue/{first}",
        "person": f"/person?q={PERSON}",
        "person, not found": "/person?q=nobody%40example.org",
        "report, 30 days": "/report",
        "report, 90 days": "/report?days=90",
        "report CSV": "/report/rates.csv",
        "list check form": "/lists",
    }
    worst = 0.0
    with Servers(center, settings) as servers:
        assert servers.console is not None
        client = log_in(servers.console.url)
        results = {name: timed(client, path, ROUNDS) for name, path in pages.items()}
        client.close()
        base = p95(results["login (baseline)"])
        print(f"{'page':<26}{'p50 ms':>8}{'p95 ms':>8}{'p95/login':>11}")
        for name, found in results.items():
            worst = max(worst, p95(found)) if name != "login (baseline)" else worst
            print(
                f"{name:<26}{statistics.median(found):>8.1f}{p95(found):>8.1f}"
                f"{p95(found) / base:>10.1f}x"
            )
        alone, busy = turns(center, servers.http.url, servers.console.url, rows * 3, first)
    report("in one process", alone, busy)
    with Servers(center, settings, console=False) as servers, own_process(settings) as url:
        alone, busy = turns(center, servers.http.url, url, rows * 5, first)
    report("console in its own process", alone, busy)
    print(f"slowest page p95 {worst:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
