"""The change feed: read 1,000,000 events through ``GET /v1/events``, and its latency.

1. Throughput: a store with ``--events`` audit events (SQLite, every identity with its
   address) is read through the real sidecar (``HttpSidecar``, in this process) in pages
   of 1,000 by a client in a child process, following the cursor to the end. The
   baseline, in the same run: the same pages read with plain ``sqlite3`` (``id > ?
   ORDER BY id LIMIT 1000``, joined to the addresses) and written with ``json.dumps``,
   no HTTP.
2. Latency: a child process POSTs ``/v1/suppress`` at ``--rate`` per second while a
   consumer thread in it polls the feed (``--poll`` seconds apart when a page is empty);
   for each change, the time from its 2xx to the consumer seeing it.

Targets: >= 100,000 events/s through HTTP; latency p99 <= 1 s.

Run: ``python -m bench.bench_feed [--events 1000000] [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

API_KEY = "bench-feed-api-key-0123456789"
PAGE = 1000


# -- child process: the consumers -----------------------------------------------------
def read_main(argv: list[str]) -> None:
    """``read PORT``: read the whole feed in pages of 1,000; JSON result on stdout.

    A consumer the way a fast one would be written: one keep-alive connection, and the
    next page asked for (the cursor comes first in the body) before this one is parsed,
    so the server builds page n+1 while the client decodes page n.
    """
    import http.client

    (port,) = argv
    headers = {"authorization": f"Bearer {API_KEY}"}
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
    count = 0
    started = time.perf_counter()
    conn.request("GET", f"/v1/events?limit={PAGE}", headers=headers)
    while True:
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {body[:200]!r}")
        cursor = body[11 : body.index(b'"', 11)].decode()  # {"cursor":"...
        empty = body.endswith(b'"events":[]}')
        if not empty:
            conn.request("GET", f"/v1/events?after={cursor}&limit={PAGE}", headers=headers)
        count += len(json.loads(body)["events"])
        if empty:
            break
    conn.close()
    elapsed = time.perf_counter() - started
    print(json.dumps({"events": count, "seconds": elapsed}))


def latency_main(argv: list[str]) -> None:
    """``latency PORT SECONDS RATE POLL``: write and follow; JSON result on stdout."""
    import httpx

    port, seconds, rate, poll = int(argv[0]), float(argv[1]), float(argv[2]), float(argv[3])
    base = f"http://127.0.0.1:{port}"
    headers = {"authorization": f"Bearer {API_KEY}"}
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        cursor = client.get("/v1/events", params={"limit": 1}).json()["cursor"]
        while True:  # start after everything already there
            body = client.get("/v1/events", params={"after": cursor, "limit": PAGE}).json()
            if not body["events"]:
                break
            cursor = body["cursor"]

    def consume() -> None:
        nonlocal cursor
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            while not (done.is_set() and len(seen) >= len(acked)):
                body = client.get("/v1/events", params={"after": cursor, "limit": PAGE}).json()
                now = time.perf_counter()
                for event in body["events"]:
                    seen.setdefault(event.get("address", ""), now)
                cursor = body["cursor"]
                if not body["events"]:
                    time.sleep(poll)

    consumer = threading.Thread(target=consume)
    consumer.start()
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        started = time.perf_counter()
        number = 0
        while time.perf_counter() - started < seconds:
            address = f"late{number}@feed.example.org"
            response = client.post("/v1/suppress", json={"recipient": address})
            response.raise_for_status()
            acked[address] = time.perf_counter()
            number += 1
            pause = started + number / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    done.set()
    consumer.join(60)
    delays = sorted(seen[a] - t for a, t in acked.items() if a in seen)
    print(json.dumps({
        "changes": len(acked), "seen": len(delays),
        "p50_ms": 1000 * delays[len(delays) // 2], "p99_ms": 1000 * delays[int(len(delays) * 0.99)],
        "max_ms": 1000 * delays[-1],
    }))  # fmt: skip


# -- the server side ------------------------------------------------------------------
def _fill(path: Path, count: int) -> float:
    """``count`` suppress events (and their identities) straight into the store file."""
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    at = 1_764_000_000_000
    for start in range(0, count, 50_000):
        numbers = range(start, min(count, start + 50_000))
        keys = [n.to_bytes(4, "big") + os.urandom(12) for n in numbers]
        conn.executemany(
            "INSERT INTO events(at, hash, channel, action, source, scope, topic, reason, "
            "evidence, requested_at, detail) VALUES (?, ?, 'email', 'suppress', 'one-click', "
            "'global', '', NULL, ?, NULL, '')",
            [(at + n, key, f"req-{n}") for n, key in zip(numbers, keys, strict=True)],
        )
        conn.executemany(
            "INSERT INTO identities(hash, address) VALUES (?, ?)",
            [(key, f"reader{n}@feed.example.org") for n, key in zip(numbers, keys, strict=True)],
        )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def _baseline(path: Path) -> tuple[int, float]:
    """The same pages with plain sqlite3 and json.dumps: (events, seconds)."""
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    after, count = 0, 0
    while True:
        rows = conn.execute(
            "SELECT e.id, e.at, e.hash, e.action, e.source, e.channel, e.scope, e.topic, "
            "e.reason, e.requested_at, e.detail, i.address FROM events e LEFT JOIN identities i "
            "ON i.hash = e.hash WHERE e.id > ? ORDER BY e.id LIMIT ?",
            (after, PAGE),
        ).fetchall()
        if not rows:
            break
        json.dumps([
            {"id": str(r[0]), "kind": r[3], "channel": r[5], "topic": r[7] or None,
             "scope": r[6], "reason": r[8], "source": r[4], "time": r[1],
             "requested_at": r[9], "detail": r[10] or None, "identity_hash": r[2].hex(),
             "address": r[11]}
            for r in rows
        ])  # fmt: skip
        count += len(rows)
        after = rows[-1][0]
    conn.close()
    return count, time.perf_counter() - started


def _child(*args: str, timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.bench_feed", *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise SystemExit(
            f"{' '.join(args[:1])} child failed ({out.returncode}): {out.stderr[-2000:]}"
        )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


async def _serve(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from prefcenter.center import PreferenceCenter
    from prefcenter.config import load_settings
    from prefcenter.sidecar.http.server import HttpSidecar

    settings = load_settings(
        {
            "database": f"sqlite:///{tmp / 'feed.db'}",
            "secret": "bench-secret-0123456789abcdef0123",
            "pepper": "bench-pepper-0123456789abcdef0123",
            "var_dir": str(tmp / "var"),
            "base_url": "http://127.0.0.1",
            "http": "127.0.0.1:0",
            "api_keys": API_KEY,
            # The latency writer POSTs 200 changes a second: past the default API_RATE. The
            # feed's pages keep the default FEED_RATE (its own bucket): the catch-up it
            # measures must not be throttled by default.
            "api_rate": "off",
        },
        environ={},
        generate_dev_keys=False,
    )
    PreferenceCenter(settings).close()  # creates the schema
    fill = _fill(tmp / "feed.db", args.events)
    print(f"filled {args.events} events in {fill:.1f} s", file=sys.stderr)
    base_count, base_seconds = _baseline(tmp / "feed.db")
    center = PreferenceCenter(settings)
    sidecar = HttpSidecar(center, settings, port=0)
    await sidecar.start()
    try:
        read = await asyncio.to_thread(_child, "read", str(sidecar.port), timeout=1200)
        latency = await asyncio.to_thread(
            _child, "latency", str(sidecar.port), str(args.latency_seconds), str(args.rate),
            str(args.poll), timeout=args.latency_seconds + 120,
        )  # fmt: skip
    finally:
        await sidecar.stop()
        center.close()
    return {"read": read, "baseline": {"events": base_count, "seconds": base_seconds},
            "latency": latency}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Measure; print the figures; exit 1 when a target is missed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["read"]:
        read_main(argv[1:])
        return 0
    if argv[:1] == ["latency"]:
        latency_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="changes per second")
    parser.add_argument("--poll", type=float, default=0.1, help="consumer wait when idle (s)")
    parser.add_argument("--quick", action="store_true", help="100,000 events, 5 s of latency")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.latency_seconds = 100_000, 5.0
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_serve(Path(tmp), args))
    read, base, latency = result["read"], result["baseline"], result["latency"]
    rate = read["events"] / read["seconds"]
    base_rate = base["events"] / base["seconds"]
    print(f"feed over HTTP : {read['events']} events in {read['seconds']:.2f} s, "
          f"{rate:,.0f} events/s (target >= 100,000)")  # fmt: skip
    print(f"baseline       : plain sqlite3 pages + json.dumps, {base_rate:,.0f} events/s; "
          f"HTTP feed at {rate / base_rate:.2f}x of it")  # fmt: skip
    all_seen = latency["seen"] == latency["changes"]
    print(
        f"latency        : {latency['changes']} changes at {args.rate:.0f}/s, all seen: "
        f"{all_seen}; 2xx to seen p50 {latency['p50_ms']:.0f} ms, "
        f"p99 {latency['p99_ms']:.0f} ms, max {latency['max_ms']:.0f} ms (target p99 <= 1 s)"
    )
    missed = (
        rate < 100_000
        or latency["p99_ms"] > 1000
        or latency["seen"] != latency["changes"]
        or read["events"] != args.events
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
