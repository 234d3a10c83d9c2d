"""Several ``prefcenter serve`` processes on one store, behind one port: nothing lost, no collapse.

For 1, 2 and 4 processes (``--processes``), all listening on the same HTTP and SMTP
ports (``REUSE_PORT``: SO_REUSEPORT, the kernel spreads connections), one-click POSTs
(64 connections, a distinct person each) and SMTP unsubscribes (16 connections) run at
the same time from two load processes (``bench_http``'s and ``bench_smtp``'s). Then the
store is counted: every 200 and every 250 must be exactly one new suppression and one
new event (no acknowledgement lost, none applied twice), and no request may fail
(a conflict between processes is retried inside the store, never answered 5xx).
Throughput per process count shows whether it collapses as processes are added.

With ``--backend postgresql`` (the case this is for) the store is a PostgreSQL started by
pgserver; on SQLite the processes share one file, whose single writer lock they take
in turns, so throughput falling with more processes is reported, not failed.

Run: ``python -m bench.bench_replicas [--backend postgresql] [--processes 1,2,4]
[--seconds 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.backend import add_option, database

SECRET = "bench-secret-0123456789abcdef0123"
PEPPER = "bench-pepper-0123456789abcdef0123"
MAIL_DOMAIN = "unsub.example.com"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _values(url: str, tmp: Path, http: int, smtp: int) -> dict[str, str]:
    return {
        "database": url, "secret": SECRET, "pepper": PEPPER, "var_dir": str(tmp / "var"),
        "mail_domain": MAIL_DOMAIN, "base_url": "http://127.0.0.1",
        "http": f"127.0.0.1:{http}", "smtp": f"127.0.0.1:{smtp}", "reuse_port": "true",
        "pool_size": "4", "log_level": "warning", "max_connections_per_ip": "200",
        # Rate limits on but never reached (the load comes from one address), as in
        # bench_http and bench_smtp: the SMTP ones arrived after this bench and reset
        # its connections.
        "page_rate": "1000000000/1m", "smtp_connection_rate": "1000000000/1m",
        "smtp_message_rate": "1000000000/1m",
    }  # fmt: skip


def _start(
    count: int, env: dict[str, str], tmp: Path
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """``count`` serve processes, each returned once it says it is serving."""
    started = []
    for index in range(count):
        log = tmp / f"serve-{index}-{time.monotonic_ns()}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "prefcenter", "serve"],
                env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while b"prefcenter serving" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve {index} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        started.append((process, log))
    return started


def _stop(processes: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for process, _ in processes:
        process.send_signal(signal.SIGTERM)
    for process, log in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
        if errors:
            print(f"  {log.name}: {log.read_text()[-1500:]}", file=sys.stderr)


def _counts(url: str) -> tuple[int, int]:
    """(suppressions, events) in the store."""
    sql = "SELECT (SELECT count(*) FROM suppressions), (SELECT count(*) FROM events)"
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            row = conn.execute(sql).fetchone()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as pg:
            row = pg.execute(sql).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _round(
    center: Any, url: str, env: dict[str, str], ports: tuple[int, int], processes: int,
    seconds: float, tmp: Path,
) -> dict[str, Any]:  # fmt: skip
    http_port, smtp_port = ports
    tag = f"p{processes}-{time.monotonic_ns()}"
    clicks = int(seconds * 6000) + 2000
    paths = [
        "/u/" + center.unsubscribe_url(f"click{n}-{tag}@bench.example.org").rsplit("/u/", 1)[1]
        for n in range(clicks)
    ]
    rcpts = [
        center.links.mailto_address(center.identity(f"mail{n}-{tag}@bench.example.org"), None)
        for n in range(int(seconds * 1500) + 500)
    ]
    (tmp / f"paths-{tag}").write_text("\n".join(paths))
    (tmp / f"rcpts-{tag}").write_text("\n".join(rcpts))
    before = _counts(url)
    running = _start(processes, env, tmp)
    try:
        loads = {
            "http": subprocess.Popen(
                [sys.executable, "-m", "bench.bench_http", "load", "127.0.0.1", str(http_port),
                 str(tmp / f"paths-{tag}"), str(seconds), "64"],
                stdout=subprocess.PIPE,
            ),
            "smtp": subprocess.Popen(
                [sys.executable, "-m", "bench.bench_smtp", "load", str(smtp_port),
                 str(tmp / f"rcpts-{tag}"), str(seconds), "16"],
                stdout=subprocess.PIPE,
            ),
        }  # fmt: skip
        results = {}
        for name, load in loads.items():
            out, _ = load.communicate(timeout=seconds + 120)
            results[name] = json.loads(out)
    finally:
        _stop(running)
    after = _counts(url)
    http, smtp = results["http"], results["smtp"]
    ok = http["statuses"].get("200", 0) + smtp["codes"].get("250", 0)
    return {
        "processes": processes,
        "one_click_per_s": http["per_second"],
        "one_click_p99_ms": http["p99_ms"],
        "http_statuses": http["statuses"],
        "smtp_per_s": smtp["per_second"],
        "smtp_codes": smtp["codes"],
        "acknowledged": ok,
        "new_suppressions": after[0] - before[0],
        "new_events": after[1] - before[1],
        "exhausted": http["exhausted"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--processes", default="1,2,4", help="process counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0, help="load per process count")
    add_option(parser)
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.processes.split(",")]
    from prefcenter.center import PreferenceCenter
    from prefcenter.config import load_settings

    failed = False
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as scratch:
        tmp = Path(scratch)
        with database(args.backend, tmp, "replicas") as url:
            ports = (_free_port(), _free_port())
            values = _values(url, tmp, *ports)
            center = PreferenceCenter(load_settings(values, environ={}, generate_dev_keys=False))
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
            env.update({f"PREFCENTER_{k.upper()}": v for k, v in values.items()})
            try:
                for processes in counts:
                    row = _round(center, url, env, ports, processes, args.seconds, tmp)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            finally:
                center.close()
    print(f"\n{args.backend}: | processes | one-click req/s | p99 ms | SMTP msg/s | "
          "acknowledged | new suppressions | new events | non-2xx/250 |")  # fmt: skip
    base = rows[0]["one_click_per_s"] + rows[0]["smtp_per_s"] if rows else 1
    for row in rows:
        bad = {k: v for k, v in row["http_statuses"].items() if k != "200"}
        bad.update({f"smtp {k}": v for k, v in row["smtp_codes"].items() if k != "250"})
        print(f"| {row['processes']} | {row['one_click_per_s']:.0f} | "
              f"{row['one_click_p99_ms']:.1f} | {row['smtp_per_s']:.0f} | "
              f"{row['acknowledged']} | {row['new_suppressions']} | {row['new_events']} | "
              f"{bad or 'none'} |")  # fmt: skip
        exact = row["acknowledged"] == row["new_suppressions"] == row["new_events"]
        if not exact or bad:
            print(f"FAIL with {row['processes']} processes: acknowledgements and rows differ "
                  "or a request failed", file=sys.stderr)  # fmt: skip
            failed = True
        total = row["one_click_per_s"] + row["smtp_per_s"]
        # SQLite serializes writers across processes (one writer per file, waits with
        # backoff): reported, but one process per file is its deployment.
        if total < 0.5 * base and args.backend != "sqlite":
            print(f"FAIL: throughput with {row['processes']} processes is {total / base:.0%} "
                  "of one process's (collapsed)", file=sys.stderr)  # fmt: skip
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
