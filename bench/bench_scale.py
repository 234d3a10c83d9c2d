"""The store at 1,000,000 and 10,000,000 suppressions: check, filter, one-click, size.

Run only when asked (``python -m bench --scale 10m [--backend postgresql]`` or
``python -m bench.bench_scale --scale 10m``): building ten million rows takes minutes.
The store is filled with the rows ``suppress`` writes for an import (``COPY`` on
PostgreSQL, sorted ``executemany`` on SQLite), first to 1M, measured, then to 10M,
measured again, so the growth is visible. At each size:

- ``check``: mean and p99 wall time of 2,000 random people (half suppressed);
- ``filter`` in the library: ``PreferenceCenter.filter`` of 200,000 people (30 % suppressed);
- ``filter`` on the command line: 1,000,000 CSV rows (30 % suppressed), rows per
  second (wall, interpreter start included), its time against a plain csv copy of the
  same file (run just before), peak RSS of the command and of its hash worker (VmHWM;
  the worker is a fork sharing pages, so the sum is an upper bound), the peak of the
  two processes' PSS summed (what the command holds: :mod:`bench.memory`) and the CPU
  seconds of each (``--filter-only URL`` measures only this, on a store built and kept earlier);
- one-click: 300 unsubscribes, each its own transaction and commit (``fsync``), p50/p99;
- bytes per suppression: the table and its indexes, and the whole file or database.

Targets (issue 26): check p99 <= 2 ms at 10M; CLI filter of 1M rows >= 300,000 rows/s
(SQLite) and >= 200,000 rows/s (PostgreSQL) with peak memory <= 300 MB (printed for each
process and as the PSS sum of both); PostgreSQL
<= 120 bytes per suppression.

Run: ``python -m bench.bench_scale --scale 10m [--backend postgresql] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.backend import add_option, bulk_suppress, database, store_bytes
from bench.memory import PeakPss

SECRET = "bench-secret-0123456789abcdef0123"
PEPPER = "bench-pepper-0123456789abcdef0123"
LIST_ROWS = 1_000_000
LIBRARY_ROWS = 200_000
MEASURED = """
import atexit, resource, runpy, sys
def report():
    own = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("peak", own, worker, file=sys.stderr)
    main, child = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN))
    print("cpu", main.ru_utime + main.ru_stime, child.ru_utime + child.ru_stime,
          file=sys.stderr)
atexit.register(report)
sys.argv = ["prefcenter", *sys.argv[1:]]
runpy.run_module("prefcenter", run_name="__main__")
"""


def person(i: int) -> str:
    return f"user{i}@example{i % 13}.com"


def _sizes(scale: str) -> list[int]:
    top = {"1m": 1_000_000, "10m": 10_000_000, "100k": 100_000}[scale.lower()]
    return [size for size in (100_000, 1_000_000, 10_000_000) if size <= top][-2:]


def _settings(url: str, tmp: Path) -> Any:
    from prefcenter.config import load_settings

    return load_settings(
        {"database": url, "secret": SECRET, "pepper": PEPPER, "var_dir": str(tmp / "var"),
         "frequency_cap": "off"},
        environ={}, generate_dev_keys=False,
    )  # fmt: skip


def _hashes(center: Any, start: int, stop: int) -> Any:
    from prefcenter.identity import canonical_email

    hash_key, folding = center.identities.hash_key, center.identities.folding
    return (hash_key("email:" + canonical_email(person(i), folding)) for i in range(start, stop))


def _server_settings(url: str) -> str:
    if url.startswith("sqlite"):
        return "SQLite: WAL, synchronous=FULL, cache_size 64 MiB"
    import psycopg

    names = ("shared_buffers", "max_connections", "synchronous_commit", "fsync", "work_mem")
    with psycopg.connect(url, autocommit=True) as pg:
        values = [pg.execute(f"SHOW {name}").fetchone() for name in names]
    return "PostgreSQL: " + ", ".join(
        f"{name}={value[0] if value else '?'}" for name, value in zip(names, values, strict=True)
    )


def _write_list(path: Path, store_rows: int) -> None:
    """LIST_ROWS rows; row j is a suppressed person when j % 10 < 3 (all j < store_rows)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("id,email,name\n")
        lines = []
        for j in range(LIST_ROWS):
            who = person(j) if j % 10 < 3 else person(store_rows + j)
            lines.append(f"{j},{who},Name {j}\n")
            if len(lines) == 50_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


def measure_size(center: Any, url: str, tmp: Path, rows: int) -> dict[str, float]:
    from prefcenter.model import Source

    result: dict[str, float] = {"rows": float(rows)}
    # check: random people, half in the store.
    sample = [person(random.randrange(2 * rows)) for _ in range(2000)]
    for address in sample[:200]:
        center.check(address)  # warm the connection and the statement
    latencies = []
    for address in sample:
        started = time.perf_counter()
        center.check(address)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    result["check_mean_us"] = 1e6 * sum(latencies) / len(latencies)
    result["check_p99_us"] = 1e6 * latencies[int(len(latencies) * 0.99)]

    # filter, library.
    people = [
        person(j) if j % 10 < 3 else person(rows + 5_000_000 + j) for j in range(LIBRARY_ROWS)
    ]
    started = time.perf_counter()
    outcome = center.filter(people)
    seconds = time.perf_counter() - started
    assert sum(outcome.counts().values()) >= LIBRARY_ROWS * 3 // 10
    result["filter_library_rows_per_s"] = LIBRARY_ROWS / seconds

    result.update(filter_cli(url, tmp, rows))

    # one-click: one transaction and commit each.
    latencies = []
    for n in range(300):
        started = time.perf_counter()
        center.suppress(
            f"oneclick{rows}-{n}@example.org", source=Source.ONE_CLICK, evidence=f"r{n}"
        )
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    result["one_click_p50_ms"] = 1e3 * latencies[len(latencies) // 2]
    result["one_click_p99_ms"] = 1e3 * latencies[int(len(latencies) * 0.99)]

    table, whole = store_bytes(url)
    result["bytes_per_suppression"] = table / rows
    result["store_bytes_per_suppression"] = whole / rows
    result["store_mb"] = whole / 2**20
    return result


def filter_cli(url: str, tmp: Path, rows: int) -> dict[str, float]:
    """``prefcenter filter`` of LIST_ROWS rows against a store of ``rows`` (built by
    this bench): rows per second, the time against a plain csv copy of the same file
    (the baseline, run just before), peak RSS and CPU seconds of the command and of
    its hash worker."""
    from bench.bench_filter import COPY

    list_path = tmp / f"list-{rows}.csv"
    _write_list(list_path, rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update(PREFCENTER_DATABASE=url, PREFCENTER_SECRET=SECRET, PREFCENTER_PEPPER=PEPPER,
               PREFCENTER_VAR_DIR=str(tmp / "var"), PREFCENTER_FREQUENCY_CAP="off")  # fmt: skip
    started = time.perf_counter()
    copy = [sys.executable, "-c", COPY, str(list_path), str(tmp / "copy.csv")]
    subprocess.run(copy, env=env, capture_output=True, check=True)
    copy_seconds = time.perf_counter() - started
    command = [sys.executable, "-c", MEASURED, "filter", "--json", str(list_path),
               "-o", str(tmp / "out.csv")]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = PeakPss(process)
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    pss_mb = sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"filter failed: {stderr[-2000:]}")
    summary = json.loads(stdout)
    expected = sum(1 for j in range(min(LIST_ROWS, rows)) if j % 10 < 3)
    assert summary["suppressed"] == expected, summary
    lines = [line.split() for line in stderr.splitlines()]
    peak = [line for line in lines if line[:1] == ["peak"]][-1]
    cpu = [line for line in lines if line[:1] == ["cpu"]][-1]
    list_path.unlink()
    return {
        "filter_cli_rows_per_s": LIST_ROWS / seconds,
        "filter_cli_vs_copy": seconds / copy_seconds,
        "filter_cli_rss_mb": int(peak[1]) / 1024,
        "filter_cli_worker_rss_mb": int(peak[2]) / 1024,
        "filter_cli_pss_mb": pss_mb,
        "filter_cli_cpu_s": float(cpu[1]),
        "filter_cli_worker_cpu_s": float(cpu[2]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", default=None, help="largest store: 100k, 1m or 10m")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--filter-only", metavar="URL", default=None,
                        help="only the CLI filter, against a store this bench built earlier "
                        "(with --scale: its size) and kept")  # fmt: skip
    add_option(parser)
    args = parser.parse_args(argv)
    if args.filter_only:
        rows = _sizes(args.scale or "10m")[-1]
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
            figures = filter_cli(args.filter_only, args.keep or Path(scratch), rows)
        print(json.dumps({"suppressions": rows, **{k: round(v, 2) for k, v in figures.items()}}))
        return 0
    if args.scale is None:
        print("skipped: pass --scale 10m (builds ten million suppressions, minutes)")
        return 0
    from prefcenter.center import PreferenceCenter

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        results = []
        with database(args.backend, work, "scale") as url:
            center = PreferenceCenter(_settings(url, work))
            print(_server_settings(url), flush=True)
            built = 0
            build_seconds = 0.0
            for size in _sizes(args.scale):
                started = time.perf_counter()
                bulk_suppress(url, _hashes(center, built, size), at_ms=1_700_000_000_000)
                build_seconds += time.perf_counter() - started
                built = size
                print(f"built {size:,} suppressions in {build_seconds:.0f} s (cumulative)",
                      flush=True)  # fmt: skip
                figures = measure_size(center, url, work, size)
                figures["build_s"] = build_seconds
                results.append(figures)
                print(json.dumps({k: round(v, 1) for k, v in figures.items()}), flush=True)
            center.close()
    _table(results, args.backend)
    return 0


def _table(results: list[dict[str, float]], backend: str) -> None:
    print(f"\n{backend}: | suppressions | build s | check mean / p99 us | filter lib rows/s | "
          "filter CLI rows/s | CLI RSS MB (+worker), PSS of both | one-click p50 / p99 ms | "
          "bytes/suppression (table+indexes, file) |")  # fmt: skip
    for r in results:
        print(f"| {r['rows']:,.0f} | {r['build_s']:.0f} | {r['check_mean_us']:.0f} / "
              f"{r['check_p99_us']:.0f} | {r['filter_library_rows_per_s']:,.0f} | "
              f"{r['filter_cli_rows_per_s']:,.0f} | {r['filter_cli_rss_mb']:.0f} "
              f"(+{r['filter_cli_worker_rss_mb']:.0f}), {r['filter_cli_pss_mb']:.0f} | "
              f"{r['one_click_p50_ms']:.1f} / "
              f"{r['one_click_p99_ms']:.1f} | {r['bytes_per_suppression']:.0f}, "
              f"{r['store_bytes_per_suppression']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
