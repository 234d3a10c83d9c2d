"""``prefcenter import`` of a 1,000,000-row provider export, against a plain ``csv`` copy.

The file is a SendGrid bounces export (``email,created,reason,status``), one distinct
address per row. The baseline, in the same run: ``csv.reader`` to ``csv.writer`` of the
same file (the least any importer must do). The import runs as the real command in a
child process on a fresh store (SQLite, or PostgreSQL with ``--backend``); its peak
memory is read for a tenth of the rows and for all of them (flat memory: the two must be
close).

Targets: >= 100,000 rows/s; <= 5x the copy; peak memory independent of the row count.
The command's CPU time (user and system, from ``wait4``) is printed beside the copy's:
on a shared machine it moves less than the wall time.

Run: ``python -m bench.bench_import [--rows 1000000] [--quick] [--backend postgresql]``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.backend import add_option, postgres

SECRET = "bench-secret-0123456789abcdef0123"
PEPPER = "bench-pepper-0123456789abcdef0123"


def write_export(path: Path, rows: int) -> None:
    """A SendGrid bounces export of ``rows`` distinct addresses."""
    with path.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(["email", "created", "reason", "status"])
        for n in range(rows):
            writer.writerow([
                f"reader{n}@bench{n % 97}.example.org", 1_443_651_125 + n,
                "550 5.1.1 The email account that you tried to reach does not exist.", "5.1.1",
            ])  # fmt: skip


def copy_seconds(path: Path, out: Path) -> tuple[float, float]:
    """The baseline: read every row with csv.reader and write it with csv.writer; its
    (wall, CPU) seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    with path.open(newline="", encoding="utf-8") as source, out.open("w", newline="") as sink:
        writer = csv.writer(sink)
        for row in csv.reader(source):
            writer.writerow(row)
    return time.perf_counter() - started, time.process_time() - cpu


def run_import(path: Path, tmp: Path, url: str) -> tuple[float, dict[str, object], int, float]:
    """The real command on a fresh store: (seconds, its JSON summary, peak RSS in KiB,
    its CPU seconds: user and system, so a busy machine counts less)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update(
        PREFCENTER_DATABASE=url,
        PREFCENTER_SECRET=SECRET,
        PREFCENTER_PEPPER=PEPPER,
        PREFCENTER_VAR_DIR=str(tmp / "var"),
    )
    # The store must exist (import does not create one): a first open makes it.
    subprocess.run([sys.executable, "-c", _CREATE], env=env, check=True)
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "prefcenter", "import", "--format", "sendgrid", "--json",
         str(path)],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    out = child.stdout.read()
    # This child's own peak (RUSAGE_CHILDREN would be the largest of every child so far).
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"prefcenter import failed with status {child.returncode}")
    return seconds, json.loads(out), usage.ru_maxrss, usage.ru_utime + usage.ru_stime


_CREATE = "from prefcenter.center import PreferenceCenter; PreferenceCenter.from_env().close()"


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    add_option(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        small, big = tmp / "small.csv", tmp / "big.csv"
        write_export(small, rows // 10)
        write_export(big, rows)
        size_mb = big.stat().st_size / 1e6
        copy, copy_cpu = copy_seconds(big, tmp / "copy.csv")
        with contextlib.ExitStack() as stack:
            if args.backend == "sqlite":
                small_url, big_url = (f"sqlite:///{tmp / name}.db" for name in ("small", "big"))
            else:
                server = stack.enter_context(postgres(tmp / "pg"))
                small_url, big_url = server.database("small"), server.database("big")
            _, small_summary, small_peak, _ = run_import(small, tmp, small_url)
            seconds, summary, peak, cpu = run_import(big, tmp, big_url)
    rate = rows / seconds
    ratio = seconds / copy
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(f"file        : {rows} rows, {size_mb:.0f} MB (SendGrid bounces export), "
          f"store: {args.backend}")  # fmt: skip
    print(f"csv copy    : {copy:.2f} s, {rows / copy:,.0f} rows/s")
    print(f"import      : {seconds:.2f} s, {rate:,.0f} rows/s (target >= 100,000), "
          f"{ratio:.1f}x the copy (target <= 5x); {summary}")  # fmt: skip
    print(f"CPU time    : import {cpu:.2f} s ({rows / cpu:,.0f} rows per CPU second, "
          f"{cpu / copy_cpu:.1f}x the copy's {copy_cpu:.2f} s; the server's own on PostgreSQL "
          "not counted)")  # fmt: skip
    print(f"peak memory : {small_peak / 1024:.0f} MB for {rows // 10} rows "
          f"({small_summary['added']} added), {peak / 1024:.0f} MB for {rows}")  # fmt: skip
    flat = peak <= small_peak * 1.5
    missed = rate < 100_000 or ratio > 5 or summary["added"] != rows or not flat
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
