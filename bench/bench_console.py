"""The operator console's pages on a large store, and one-click while an operator browses.

Builds a SQLite store with 1,000,000 suppressions, 100,000 audit events over 30 days,
10,000 open exceptions (each holding a 2 KB message) and 50,000 recorded sends
(``--quick``: a tenth of each; ``--store DIR`` keeps it for the next run), starts the
real ``prefcenter serve`` on it (the console in its child process, as deployed), logs
in, and measures over loopback, every client in a process of its own:

- every console page, ``ROUNDS`` requests each: p50 and p95 in milliseconds, and the
  p95 against the login page (a template and no store read) measured in the same run;
- one-click POSTs (p50, p95) alone and while another process browses the console
  without pause (and counts the pages it got), in alternating batches, ``--runs``
  times: the ratio of the two p95s,
  beside the ratio between the alone batches themselves (the noise of this machine);
- the same with the console inside the sidecar's process (as ``serve`` ran it before
  issue 24's second pass), for comparison;
- beside each: the CPU the sidecar spent per one-click and the time its threads waited
  for a CPU (the kernel's run-queue wait) per one-click, alone and while browsing, and
  the console's CPU per page: whether the operator's pages make one-click do more work,
  or only wait its turn for a core.

``--nice 0,5,10,19 --cycles 2`` measures only the one-click turns, for each
``CONSOLE_NICE`` in turn (the order reversed every other cycle), and sums them up per
value: how the console's CPU priority trades one-click's p95 against the pages.

Target (issue 24): every page p95 <= 100 ms at this store size; one-click's p95 while
browsing within noise of its p95 alone.

Run: ``python -m bench.bench_console [--quick] [--runs 3] [--store DIR]
[--nice 0,5,10,19 --cycles 2] [--operator-pace 0.2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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


class OneProcess:
    """The public sidecar and the console in one event loop (the layout before the child
    process), run by ``python -m bench.bench_console --one-process`` in a subprocess."""

    def __init__(self, center: PreferenceCenter, settings: Any) -> None:
        self.http = HttpSidecar(center, settings, host="127.0.0.1", port=0)
        self.console = ConsoleSidecar(center, settings, host="127.0.0.1", port=0)

    async def run(self) -> None:
        await self.http.start()
        await self.console.start()
        print(f"ready {self.http.url} {self.console.url}", flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the benchmark closes our stdin
        await self.console.stop()
        await self.http.stop()


def environment(settings: Any) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")},
        **{k: v for k, v in os.environ.items() if k == "PREFCENTER_CONSOLE_NICE"},
        "PREFCENTER_DATABASE": settings.database,
        "PREFCENTER_SECRET": SECRET,
        "PREFCENTER_PEPPER": PEPPER,
        "PREFCENTER_VAR_DIR": settings.var_dir,
        "PREFCENTER_TOPICS": "news=Newsletter;deals=Offers",
        "PREFCENTER_LOG_LEVEL": "warning",
    }


@dataclass(frozen=True)
class Servers:
    """The servers under test: their URLs, and the processes that serve each."""

    http_url: str
    console_url: str
    http_pid: int
    console_pid: int


def _stat(pid: int) -> list[bytes]:
    """``/proc/<pid>/stat``'s fields from the 3rd on (the name may hold spaces)."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rindex(b")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) process ``pid`` has used so far."""
    fields = _stat(pid)
    return (int(fields[14 - 3]) + int(fields[15 - 3])) / os.sysconf("SC_CLK_TCK")


def waited_seconds(pid: int) -> float:
    """Seconds the threads of process ``pid`` now alive have spent runnable but waiting
    for a CPU (the 2nd field of each thread's ``schedstat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def child_of(pid: int, marker: str) -> int:
    """The child process of ``pid`` whose command line holds ``marker`` (bounded wait)."""
    for _ in range(200):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError):
                if (
                    int(_stat(int(entry.name))[4 - 3]) == pid
                    and marker.encode() in (entry / "cmdline").read_bytes()
                ):
                    return int(entry.name)
        time.sleep(0.05)
    raise RuntimeError(f"no child of {pid} with {marker!r}")


@contextlib.contextmanager
def serving(settings: Any, layout: str) -> Iterator[Servers]:
    """The servers in a subprocess. ``layout`` is ``serve`` (the real command: the
    console in its child process) or ``one-process``."""
    if layout == "serve":
        argv = ["-m", "prefcenter", "serve", "--http", "127.0.0.1:0", "--no-smtp",
                "--console", "127.0.0.1:0"]  # fmt: skip
        ready = re.compile(r"HTTP on (http://\S+?), the operator console on (http://\S+?);")
    else:
        argv = ["-m", "bench.bench_console", "--one-process", settings.var_dir]
        ready = re.compile(r"ready (\S+) (\S+)")
    process = subprocess.Popen(
        [sys.executable, *argv], env=environment(settings), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:  # bounded: the server prints its ready line or exits
            if found := ready.search(line):
                console = child_of(process.pid, "--listen-fd") if layout == "serve" else 0
                yield Servers(found[1], found[2], process.pid, console or process.pid)
                return
        raise RuntimeError(f"{layout}: the servers did not start")
    finally:
        process.terminate() if layout == "serve" else process.stdin.close()  # type: ignore[union-attr]
        process.wait(60)


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
TURNS, BATCH = 8, 50


def browse(url: str, first: int, browsing: Any, stop: Any, pages: Any, pace: float = 0.0) -> None:
    """The operator (a process of its own): the queue, a person, the report and an item,
    round and round, while ``browsing`` is set; counts the pages in ``pages``.

    ``pace`` seconds between pages (0: none, a load test far past any person). It runs
    at the same priority as the sidecar: the operator's browser would run on their own
    machine, so here its CPU counts against one-click (a conservative bench).
    """
    operator = log_in(url)
    try:
        while not stop.is_set():
            if not browsing.wait(0.05):
                continue
            for path in ("/queue", f"/person?q={PERSON}", "/report", f"/queue/{first}"):
                operator.get(path)
                with pages.get_lock():
                    pages.value += 1
                if pace:
                    stop.wait(pace)
    finally:
        operator.close()


@dataclass
class Turns:
    """One-click latencies (ms): alone, in the even and the odd alone batches, and busy."""

    even: list[float] = field(default_factory=list)
    odd: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    #: Console pages served during the busy batches, and the seconds those took.
    pages: int = 0
    seconds: float = 0.0
    #: The sidecar's CPU seconds and run-queue wait over the alone and the busy batches;
    #: the console's CPU seconds over the busy ones (the same process in ``one-process``).
    cpu_alone: float = 0.0
    cpu_busy: float = 0.0
    wait_alone: float = 0.0
    wait_busy: float = 0.0
    console_cpu: float = 0.0
    #: The browsing client's CPU seconds over the busy batches (it shares the cores).
    client_cpu: float = 0.0

    def per_click(self) -> str:
        """CPU and run-queue wait per one-click, and the console's CPU per page."""
        alone, busy = max(len(self.alone), 1), max(len(self.busy), 1)
        return (
            f"sidecar CPU per one-click {self.cpu_alone / alone * 1000:.2f} ms alone, "
            f"{self.cpu_busy / busy * 1000:.2f} ms browsing; run-queue wait per one-click "
            f"{self.wait_alone / alone * 1000:.2f} ms alone, "
            f"{self.wait_busy / busy * 1000:.2f} ms browsing; per page: console CPU "
            f"{self.console_cpu / max(self.pages, 1) * 1000:.1f} ms, browsing client CPU "
            f"{self.client_cpu / max(self.pages, 1) * 1000:.1f} ms, "
            f"{self.seconds / max(self.pages, 1) * 1000:.1f} ms from asking to the whole page"
        )

    @property
    def alone(self) -> list[float]:
        return self.even + self.odd

    def line(self, how: str) -> str:
        alone, busy = self.alone, self.busy
        noise = max(p95(self.even), p95(self.odd)) / min(p95(self.even), p95(self.odd))
        return (
            f"{how}: alone p50 {statistics.median(alone):.1f} p95 {p95(alone):.1f} ms; "
            f"browsing p50 {statistics.median(busy):.1f} p95 {p95(busy):.1f} ms; "
            f"p95 ratio {p95(busy) / p95(alone):.2f}x, p50 ratio "
            f"{statistics.median(busy) / statistics.median(alone):.2f}x "
            f"(alone vs alone p95 {noise:.2f}x); the operator got "
            f"{self.pages / max(self.seconds, 1e-9):.0f} pages/s"
        )


def turns(
    center: PreferenceCenter, servers: Servers, start: int, first: int, pace: float = 0.0
) -> Turns:
    """One-click latencies alone and while another process browses the console (without
    pause, or ``pace`` seconds between pages), measured in alternating batches."""
    http_url, console_url = servers.http_url, servers.console_url

    def usage() -> tuple[float, float, float]:
        return (
            cpu_seconds(servers.http_pid),
            waited_seconds(servers.http_pid),
            cpu_seconds(servers.console_pid),
        )

    context = multiprocessing.get_context("spawn")
    browsing, stop, pages = context.Event(), context.Event(), context.Value("i", 0)
    browser = context.Process(target=browse, args=(console_url, first, browsing, stop, pages, pace))
    browser.start()
    found = Turns()
    try:
        for turn in range(TURNS):
            browsing.clear()
            time.sleep(0.3)  # let a page in flight finish: "alone" means alone
            cpu, wait, _ = usage()
            alone = one_clicks(center, http_url, start + 2 * turn * BATCH, BATCH)
            after = usage()
            found.cpu_alone += after[0] - cpu
            found.wait_alone += after[1] - wait
            (found.even if turn % 2 == 0 else found.odd).extend(alone)
            browsing.set()
            time.sleep(0.3)  # the operator is browsing before the batch starts
            before, began = pages.value, time.perf_counter()
            cpu, wait, console = usage()
            client = cpu_seconds(browser.pid) if browser.pid else 0.0
            found.busy += one_clicks(center, http_url, start + (2 * turn + 1) * BATCH, BATCH)
            after = usage()
            found.client_cpu += (cpu_seconds(browser.pid) if browser.pid else 0.0) - client
            found.cpu_busy += after[0] - cpu
            found.wait_busy += after[1] - wait
            found.console_cpu += after[2] - console
            found.pages += pages.value - before
            found.seconds += time.perf_counter() - began
    finally:
        stop.set()
        browsing.set()
        browser.join(60)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the store")
    parser.add_argument("--runs", type=int, default=3, help="one-click runs per layout")
    parser.add_argument("--store", metavar="DIR", help="build the store here, or reuse it")
    parser.add_argument("--console-nice", metavar="N", help="CONSOLE_NICE for serve's console")
    parser.add_argument(
        "--nice", metavar="N,N", help="only the one-click turns, for each of these CONSOLE_NICE"
    )
    parser.add_argument("--cycles", type=int, default=2, help="rounds over --nice's values")
    parser.add_argument(
        "--operator-pace",
        type=float,
        default=0.0,
        metavar="S",
        help="also measure one-click while the operator waits S seconds between pages "
        "(a person's pace; the default measures only the operator without pause)",
    )
    parser.add_argument("--one-process", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_process:
        settings = bench_settings(args.one_process)
        with PreferenceCenter(settings) as center:
            asyncio.run(OneProcess(center, settings).run())
        return 0
    scale = 10 if args.quick else 1
    rows, events, items, sends = (n // scale for n in (1_000_000, 100_000, 10_000, 50_000))
    with contextlib.ExitStack() as stack:
        where = args.store or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="bench-console-")
        )
        Path(where).mkdir(parents=True, exist_ok=True)
        settings = bench_settings(where)
        built = Path(where, "built").exists()
        center = stack.enter_context(PreferenceCenter(settings))
        started = time.perf_counter()
        if not built:
            build(center, rows, events, items, sends)
            Path(where, "built").write_text(f"{rows} {events} {items} {sends}\n")
        rows, events, items, sends = map(int, Path(where, "built").read_text().split())
        size = sum(path.stat().st_size for path in Path(where).glob("store.db*"))
        print(
            f"store: {rows:,} suppressions, {events:,} audit events, {items:,} open exceptions, "
            f"{sends:,} sends; {size / 1e6:.0f} MB; "
            + (f"built in {time.perf_counter() - started:.0f} s" if not built else "reused")
        )
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.console_nice is not None:
            os.environ["PREFCENTER_CONSOLE_NICE"] = args.console_nice
        if args.nice:
            return by_nice(center, settings, rows, [int(n) for n in args.nice.split(",")],
                           args.cycles)  # fmt: skip
        return measure(center, settings, rows, args.runs, args.operator_pace)


def bench_settings(where: str) -> Any:
    return load_settings(
        {"database": f"sqlite:///{Path(where) / 'store.db'}", "secret": SECRET,
         "pepper": PEPPER, "var_dir": where, "topics": "news=Newsletter;deals=Offers",
         "console": "127.0.0.1:0", "http": "127.0.0.1:0"},
        environ={}, generate_dev_keys=False,
    )  # fmt: skip


def pages_of(first: int) -> dict[str, str]:
    """Every page an operator can GET, by name (the login page is the baseline)."""
    return {
        "login (baseline)": "/login",
        "queue": "/queue",
        "queue, overdue, mailbox": "/queue?overdue=1&mailbox=fbl",
        "queue, one mailbox": "/queue?mailbox=bounces",
        "queue, page 100": "/queue?page=100",
        "queue, last page": "/queue?page=200",
        "queue, resolved": "/queue?status=resolved",
        "item": f"/queue/{first}",
        "person": f"/person?q={PERSON}",
        "person, not found": "/person?q=nobody%40example.org",
        "report, 30 days": "/report",
        "report, 90 days": "/report?days=90",
        "report CSV, by source": "/report/requests-by-source.csv",
        "report CSV, rates": "/report/rates.csv",
        "report CSV, violations": "/report/violations.csv",
        "list check form": "/lists",
    }


def check_list(client: httpx.Client, count: int) -> str:
    """Upload a list of ``count`` rows (a tenth opted out) and wait for its check; the
    status page's path. Prints the time from upload to done."""
    body = "email,name\n" + "".join(f"{person(n * 10 + n % 10)},P{n}\n" for n in range(count))
    page = client.get("/lists").text
    marker = 'name="csrf" value="'
    start = page.index(marker) + len(marker)
    token = page[start : page.index('"', start)]
    began = time.perf_counter()
    answer = client.post(
        "/lists", data={"csrf": token}, files={"list": ("bench.csv", body.encode(), "text/csv")}
    )
    assert answer.status_code == 303, answer.text[:300]
    where = answer.headers["location"]
    while "refresh" in client.get(where).headers:  # bounded: the check ends, done or failed
        time.sleep(0.05)
    took = time.perf_counter() - began
    assert "rows may be sent" in client.get(where).text
    print(f"list check of {count:,} rows ({len(body) / 1e6:.1f} MB): {took:.2f} s, "
          f"{count / took:,.0f} rows/s (upload, screening, status polls)")  # fmt: skip
    return where


def measure(
    center: PreferenceCenter, settings: Any, rows: int, runs: int, pace: float = 0.0
) -> int:
    first = 1  # the first queued item
    worst = 0.0
    with serving(settings, "serve") as servers:
        client = log_in(servers.console_url)
        checked = check_list(client, rows // 10)
        pages = {**pages_of(first), "list check, done": checked,
                 "list check, sendable file": checked + "/sendable.csv"}  # fmt: skip
        results = {name: timed(client, path, ROUNDS) for name, path in pages.items()}
        client.close()
        base = p95(results["login (baseline)"])
        print(f"{'page':<28}{'p50 ms':>8}{'p95 ms':>8}{'p95/login':>11}")
        for name, found in results.items():
            worst = max(worst, p95(found)) if name != "login (baseline)" else worst
            print(
                f"{name:<28}{statistics.median(found):>8.1f}{p95(found):>8.1f}"
                f"{p95(found) / base:>10.1f}x"
            )
        for run in range(runs):
            measured = turns(center, servers, fresh(rows), first)
            print(measured.line(f"serve (console in its child process), run {run + 1}"))
            print("  " + measured.per_click(), flush=True)
        for run in range(runs if pace else 0):
            measured = turns(center, servers, fresh(rows), first, pace)
            how = f"serve, the operator {pace:g} s between pages, run {run + 1}"
            # Per page figures would count the pauses; per one-click ones still hold.
            print(measured.line(how), flush=True)
    with serving(settings, "one-process") as servers:
        measured = turns(center, servers, fresh(rows), first)
        print(measured.line("console in the sidecar's process (before)"))
        print("  " + measured.per_click(), flush=True)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"slowest page p95 {worst:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    return 0 if worst <= TARGET_MS else 1


def fresh(rows: int) -> int:
    """The first of a range of people no earlier run clicked (a one-click that changes
    nothing would be cheaper than a real one)."""
    return rows * 3 + random.randrange(10**9) * 2 * TURNS * BATCH


def by_nice(
    center: PreferenceCenter, settings: Any, rows: int, nices: list[int], cycles: int
) -> int:
    """One-click turns for each ``CONSOLE_NICE`` in ``nices``, ``cycles`` times over."""
    found: dict[int, list[Turns]] = {nice: [] for nice in nices}
    for cycle in range(cycles):
        for nice in nices if cycle % 2 == 0 else nices[::-1]:
            os.environ["PREFCENTER_CONSOLE_NICE"] = str(nice)
            with serving(settings, "serve") as servers:
                measured = turns(center, servers, fresh(rows), 1)
            found[nice].append(measured)
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(measured.line(f"CONSOLE_NICE={nice}, cycle {cycle + 1} (load {load})"))
            print("  " + measured.per_click(), flush=True)
    print("summary (all cycles pooled):")
    for nice, runs in found.items():
        pooled = Turns(
            even=[v for t in runs for v in t.even],
            odd=[v for t in runs for v in t.odd],
            busy=[v for t in runs for v in t.busy],
            pages=sum(t.pages for t in runs),
            seconds=sum(t.seconds for t in runs),
            cpu_alone=sum(t.cpu_alone for t in runs),
            cpu_busy=sum(t.cpu_busy for t in runs),
            wait_alone=sum(t.wait_alone for t in runs),
            wait_busy=sum(t.wait_busy for t in runs),
            console_cpu=sum(t.console_cpu for t in runs),
            client_cpu=sum(t.client_cpu for t in runs),
        )
        ratios = sorted(p95(t.busy) / p95(t.alone) for t in runs)
        print(pooled.line(f"CONSOLE_NICE={nice}"))
        print(f"  per-cycle p95 ratios {', '.join(f'{r:.2f}' for r in ratios)}; "
              + pooled.per_click(), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
