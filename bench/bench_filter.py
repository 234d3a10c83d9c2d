"""``prefcenter filter`` on a large uploaded list vs a plain ``csv`` copy of the same file.

Generates a CSV (default 1,000,000 rows; ``--quick``: 100,000) where 30% of the rows
are suppressed people and 5% are second spellings of an earlier row's person, fills a
SQLite store with those suppressions, then runs in separate processes, in the same run:

- ``python -m prefcenter filter LIST.csv -o OUT.csv --json`` (the real command);
- a plain ``csv.reader`` -> ``csv.writer`` copy of the same file (the baseline);
- the filter's reader and writer with an allow-all screen (what the CSV
  handling costs apart from the center's decisions);
- the same ``filter`` on a tenth of the file, to show how peak memory grows with rows.

It reports rows per second (wall clock of the whole process, interpreter start
included; the contenders run in turns, best of ``--rounds``), the ratio to the copy, and
each command's peak RSS, its own and its hash worker's (a list this long is screened by
two processes; the set of people seen lives in the worker, a fork that shares the pages
it did not change, so the sum is an upper bound).
Targets: at least 300,000 rows/s, within 3x of the copy, flat memory apart from the
set of people already seen (duplicate detection needs it).

With ``--backend postgresql`` the store is a PostgreSQL started by pgserver (filled with
``COPY``), and the filter asks it as it asks SQLite.

Run: ``python -m bench.bench_filter [--quick] [--rows N] [--keep DIR] [--backend B]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.backend import add_option, database

_REPORT_RSS = """
import resource, sys
print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
COPY = (
    """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as src, \\
        open(sys.argv[2], "w", newline="", encoding="utf-8") as dst:
    csv.writer(dst, lineterminator="\\n").writerows(csv.reader(src))
"""
    + _REPORT_RSS
)
# The same reader and writer as `filter`, with a screen that allows everyone:
# what the CSV handling itself costs, apart from the center's decisions.
PASSTHROUGH = (
    """
import sys
from prefcenter.screening.csv.listfilter import filter_csv
def allow(values):
    return [None] * len(values)
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as dst:
    filter_csv(src, dst, allow)
"""
    + _REPORT_RSS
)
# Peak RSS of the command itself, printed by the child: a child's rusage after fork/exec
# also counts the parent's memory at fork time.
MEASURED = """
import atexit, resource, runpy, sys
atexit.register(lambda: print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                              file=sys.stderr))
sys.argv = ["prefcenter", *sys.argv[1:]]
runpy.run_module("prefcenter", run_name="__main__")
"""
SECRET = "bench-secret-0123456789abcdef0123"
PEPPER = "bench-pepper-0123456789abcdef0123"


def person(i: int) -> str:
    return f"user{i}@example{i % 13}.com"


def spelling(i: int) -> str:
    """Another spelling of ``person(i)``: case and a sub-address tag."""
    return f"User{i}+promo@EXAMPLE{i % 13}.COM"


def generate(path: Path, rows: int) -> None:
    """Write the list.

    Row i is a duplicate spelling of row i-1 when i % 20 == 19 (5%), and a suppressed
    person when i % 10 < 3 (30%); the two never overlap.
    """
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("id,email,first_name,segment\n")
        lines = []
        for i in range(rows):
            address = spelling(i - 1) if i % 20 == 19 else person(i)
            lines.append(f'{i},{address},"Name {i}",s{i % 7}\n')
            if len(lines) == 50_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


def counts(rows: int) -> dict[str, int]:
    """What a correct filter must report for a list made by :func:`generate`."""
    duplicate = sum(1 for i in range(rows) if i % 20 == 19)
    suppressed = sum(1 for i in range(rows) if i % 10 < 3)
    return {
        "read": rows,
        "duplicate": duplicate,
        "suppressed": suppressed,
        "sendable": rows - duplicate - suppressed,
    }


def _values(work: Path, url: str | None = None) -> dict[str, str]:
    return {"database": url or f"sqlite:///{work / 'bench.db'}", "secret": SECRET,
            "pepper": PEPPER, "var_dir": str(work / "var"), "frequency_cap": "off"}  # fmt: skip


def _setup(work: Path, rows: int, url: str | None) -> None:
    from prefcenter.config import load_settings

    generate(work / "list.csv", rows)
    generate(work / "small.csv", rows // 10)
    fill_store(load_settings(_values(work, url), environ={}, generate_dev_keys=False), rows)


def fill_store(settings: Any, rows: int) -> None:
    """Suppress every person with i % 10 < 3, in large transactions (on PostgreSQL with
    ``COPY``: the same suppressions, without their events)."""
    from prefcenter.center import PreferenceCenter
    from prefcenter.model import Source

    with PreferenceCenter(settings) as center:
        if not settings.database.startswith("sqlite"):
            from bench.backend import bulk_suppress

            ids = center.identities
            hashes = (ids.hash_key(ids.canonical(person(i))) for i in range(rows) if i % 10 < 3)
            bulk_suppress(settings.database, hashes, at_ms=1_700_000_000_000)
            return
        batch = 20_000
        for start in range(0, rows, batch):
            with center.transaction() as tx:
                for i in range(start, min(rows, start + batch)):
                    if i % 10 < 3:
                        tx.suppress(person(i), source=Source.IMPORT, evidence=f"bench-{i}")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, tuple[int, int], str]:
    """Run ``command``; return wall seconds, peak RSS in bytes (its own, its worker's),
    stdout.

    The wrapped command reports its own peak RSS; otherwise the child's rusage is used,
    which is only right because this parent process stays small (setup runs in a child).
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{command[2:4]} failed ({process.returncode}): {stderr.decode()}")
    reported = [line for line in stderr.decode().splitlines() if line.startswith("maxrss ")]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    own, worker = ([*map(int, reported[-1].split()[1:]), 0][:2]) if reported else (usage, 0)
    return elapsed, (own * 1024, worker * 1024), stdout.decode()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000")
    parser.add_argument("--rows", type=int, default=None, help="exact number of rows")
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender (best kept)")
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", default=None, help=argparse.SUPPRESS)
    add_option(parser)
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    if args.setup_only:
        _setup(args.keep, rows, args.database)
        return {}

    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        with database(args.backend, work, "filter") as url:
            return _measure(work, rows, args.rounds, url)


def _measure(work: Path, rows: int, rounds: int, url: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update({f"PREFCENTER_{k.upper()}": v for k, v in _values(work, url).items()})

    started = time.perf_counter()
    # In a child, so that this process stays small (see `timed`).
    subprocess.run([sys.executable, "-m", "bench.bench_filter", "--setup-only",
                    "--rows", str(rows), "--keep", str(work), "--database", url],
                   check=True)  # fmt: skip
    expected, small = counts(rows), counts(rows // 10)
    print(f"setup: {rows:,} rows and {expected['suppressed']:,} suppressions "
          f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)  # fmt: skip

    python = sys.executable
    filter_cmd = [python, "-c", MEASURED, "filter", "--json"]
    commands = {
        "copy": [python, "-c", COPY, str(work / "list.csv"), str(work / "copy.csv")],
        "pass": [python, "-c", PASSTHROUGH, str(work / "list.csv"), str(work / "pass.csv")],
        "filter": [*filter_cmd, str(work / "list.csv"), "-o", str(work / "out.csv")],
        "small": [*filter_cmd, str(work / "small.csv"), "-o", str(work / "small-out.csv")],
    }
    # Contenders in turns, best of the rounds: load from other work hits them alike.
    best: dict[str, tuple[float, tuple[int, int], str]] = {}
    for _ in range(rounds):
        for name, command in commands.items():
            seconds, rss, output = timed(command, env)
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, rss, output)
    copy_s, copy_rss, _ = best["copy"]
    pass_s, pass_rss, _ = best["pass"]
    filter_s, filter_rss, out = best["filter"]
    small_s, small_rss, small_out = best["small"]

    summary = json.loads(out)
    for name, value in expected.items():
        if summary[name] != value:
            raise SystemExit(f"wrong count {name}: {summary[name]} != {value}")
    if json.loads(small_out)["sendable"] != small["sendable"]:
        raise SystemExit("wrong counts on the small file")

    result = {
        "rows": float(rows),
        "filter_rows_per_s": rows / filter_s,
        "copy_rows_per_s": rows / copy_s,
        "filter_vs_copy": filter_s / copy_s,
        "filter_peak_rss_mb": filter_rss[0] / 2**20,
        "filter_worker_peak_rss_mb": filter_rss[1] / 2**20,
        "filter_small_peak_rss_mb": sum(small_rss) / 2**20,
        "copy_peak_rss_mb": copy_rss[0] / 2**20,
        "csv_only_rows_per_s": rows / pass_s,
        # Upper bound: the worker's pages shared with the main process count twice.
        "rss_growth_bytes_per_row": (sum(filter_rss) - sum(small_rss)) / (rows - rows // 10),
    }

    def line(name: str, count: int, seconds: float, rss: tuple[int, int]) -> str:
        worker = f" + worker {rss[1] / 2**20:.0f} MB" if rss[1] else ""
        return (
            f"{name:<10} {count:>10,} rows  {seconds:6.2f}s  {count / seconds:>10,.0f} rows/s  "
            f"peak RSS {rss[0] / 2**20:.0f} MB{worker}"
        )

    print(line("filter", rows, filter_s, filter_rss))
    print(line("filter", rows // 10, small_s, small_rss))
    print(line("csv copy", rows, copy_s, copy_rss))
    print(line("reader+writer only (allow-all screen)", rows, pass_s, pass_rss))
    print(
        f"filter/copy time ratio {result['filter_vs_copy']:.2f}x (target <= 3x); "
        f"RSS growth at most {result['rss_growth_bytes_per_row']:.0f} bytes/row"
    )
    print(json.dumps({k: round(v, 2) for k, v in result.items()}))
    return result


if __name__ == "__main__":
    main()
