"""The audit log and the contact ledger when large: history, a month's report, purge.

Fills the store with N audit events over one year (default 100,000; about five per
person) and N contact-ledger rows over 430 days (so about 7 % are past the default
400-day CONTACT_RETENTION), written straight into the tables (``COPY`` on PostgreSQL),
and a global suppression for one person in ten (their sends go to the next person,
except one ledger row in 20,000: the violations the report finds), then measures:

- ``history`` of one person (mean and p99 over 300 people);
- ``report`` over the last 30 days (``build_report``: the month's events counted by the
  database, and the month's sends joined to the stops that block them), beside the
  event-by-event reading it replaced (``tally_events``) and the join of every contact
  with every suppression (``store.violations``) that it no longer does;
- ``purge``: deleting the ledger rows past retention, in its chunks of 5,000 (audit
  events are never purged: they are the proof of each opt-out);
- bytes per event and per ledger row (table and indexes).

Run at two sizes (``--rows 1000000,10000000``) to see the growth; 100M is
extrapolated from them (docs/operations.md).

Run: ``python -m bench.bench_audit [--rows N[,N]] [--backend postgresql]
[--index-after-load] [--no-by-event]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.backend import add_option, bulk_suppress, database, store_bytes

SECRET = "bench-secret-0123456789abcdef0123"
PEPPER = "bench-pepper-0123456789abcdef0123"
END = datetime(2026, 12, 1, tzinfo=UTC)
DAY_MS = 86_400_000
EVENTS_PER_PERSON = 5


#: One person in ten has a global suppression (from a year and a month before END).
SUPPRESSED_EVERY = 10
#: One ledger row in this many is a send to a suppressed person: a violation.
VIOLATION_EVERY = 20_000


def person(i: int) -> str:
    return f"member{i}@example{i % 11}.org"


def suppressed(p: int) -> bool:
    return p % SUPPRESSED_EVERY == 3


def _contact_person(i: int) -> int:
    """Whom ledger row ``i`` went to: its person, or the next when that one opted out."""
    p = i // EVENTS_PER_PERSON
    return p + 1 if suppressed(p) and i % VIOLATION_EVERY != 15 else p


def _event_rows(center: Any, start: int, stop: int, total: int) -> Iterator[tuple[Any, ...]]:
    """Events ``start..stop`` of ``total`` spread evenly over the year before END."""
    from prefcenter.identity import canonical_email
    from prefcenter.store.codes import to_ms

    hash_key, folding = center.identities.hash_key, center.identities.folding
    end = to_ms(END)
    span = 365 * DAY_MS
    whose, key = -1, b""
    for i in range(start, stop):
        if i // EVENTS_PER_PERSON != whose:  # a person's events are consecutive: hash once
            whose = i // EVENTS_PER_PERSON
            key = hash_key("email:" + canonical_email(person(whose), folding))
        at = end - span + span * i // total
        action = ("suppress", "resubscribe", "opt-out", "opt-in", "soft-bounce")[i % 5]
        yield (at, key, "email", action, "one-click", "global", "", None, f"e{i}", at, "")


def _contact_rows(center: Any, start: int, stop: int, total: int) -> Iterator[tuple[Any, ...]]:
    from prefcenter.identity import canonical_email
    from prefcenter.store.codes import to_ms

    hash_key, folding = center.identities.hash_key, center.identities.folding
    end = to_ms(END)
    span = 430 * DAY_MS
    keys: dict[int, bytes] = {}
    for i in range(start, stop):
        whose = _contact_person(i)
        key = keys.get(whose)
        if key is None:
            if len(keys) > 4:  # rows go person by person: only the last few recur
                keys.clear()
            key = keys[whose] = hash_key("email:" + canonical_email(person(whose), folding))
        yield (key, end - span + span * i // total, 0, b"", "bench", f"<{i}@bench>")


EVENT_COLUMNS = (
    "at, hash, channel, action, source, scope, topic, reason, evidence, requested_at, detail"
)
CONTACT_COLUMNS = "hash, at, kind, topic, sender, message_id"


_SQLITE_INDEXES = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
    "AND tbl_name IN ('events', 'contacts') AND sql IS NOT NULL"
)
_PG_INDEXES = (
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
    "WHERE t.relname IN ('events', 'contacts') AND NOT x.indisprimary "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
)


@contextlib.contextmanager
def indexes_after_load(url: str, wanted: bool) -> Iterator[None]:
    """Drop the secondary indexes of events and contacts for the load, build them after.

    A bulk load into tables whose indexes are random by hash pays a B-tree descent and a
    page write per row and index; sorting once afterwards is what makes 100M rows
    buildable in an evening. The indexes come out packed (a store grown by inserts
    keeps its pages about 70 % full), so bytes per row read lower than a grown store's.
    """
    if not wanted:
        yield
        return
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        definitions = conn.execute(_SQLITE_INDEXES).fetchall()
        for name, _ in definitions:
            conn.execute(f"DROP INDEX {name}")
        conn.close()
        yield
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA cache_size=-1000000")
        for _, sql in definitions:
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        definitions = pg.execute(_PG_INDEXES).fetchall()
        for name, _ in definitions:
            pg.execute(f"DROP INDEX {name}")
    yield
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("SET maintenance_work_mem = '1GB'")
        for _, sql in definitions:
            pg.execute(sql)
        pg.execute("VACUUM (ANALYZE) events")
        pg.execute("VACUUM (ANALYZE) contacts")


def fill(center: Any, url: str, start: int, stop: int, total: int) -> None:
    """Write events and contacts ``start..stop`` (of a final ``total``), and the
    suppressions of the people of ``0..total``."""
    from prefcenter.identity import canonical_email
    from prefcenter.store.codes import to_ms

    batch = 200_000
    hash_key, folding = center.identities.hash_key, center.identities.folding
    people = range(0, total // EVENTS_PER_PERSON + 1)
    bulk_suppress(
        url,
        (hash_key("email:" + canonical_email(person(p), folding)) for p in people if suppressed(p)),
        at_ms=to_ms(END) - 400 * DAY_MS,
    )
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for first in range(start, stop, batch):
            last = min(stop, first + batch)
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO events({EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                _event_rows(center, first, last, total),
            )
            conn.executemany(
                f"INSERT INTO contacts({CONTACT_COLUMNS}) VALUES (?,?,?,?,?,?)",
                _contact_rows(center, first, last, total),
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        for first in range(start, stop, batch):
            last = min(stop, first + batch)
            with pg.transaction(), pg.cursor() as cursor:
                with cursor.copy(f"COPY events({EVENT_COLUMNS}) FROM STDIN") as copy:
                    for row in _event_rows(center, first, last, total):
                        copy.write_row(row)
                with cursor.copy(f"COPY contacts({CONTACT_COLUMNS}) FROM STDIN") as copy:
                    for row in _contact_rows(center, first, last, total):
                        copy.write_row(row)
        pg.execute("VACUUM (ANALYZE) events")
        pg.execute("VACUUM (ANALYZE) contacts")


def measure(center: Any, url: str, rows: int, *, by_event: bool) -> dict[str, float]:
    from prefcenter.report import build_report
    from prefcenter.report.compliance import tally_events, tally_store

    result: dict[str, float] = {"rows": float(rows)}
    people = rows // EVENTS_PER_PERSON
    latencies = []
    for _ in range(300):
        who = person(random.randrange(people))
        started = time.perf_counter()
        found = center.history(who)
        latencies.append(time.perf_counter() - started)
        assert len(found) == EVENTS_PER_PERSON, (who, len(found))
    latencies.sort()
    result["history_mean_ms"] = 1e3 * sum(latencies) / len(latencies)
    result["history_p99_ms"] = 1e3 * latencies[int(len(latencies) * 0.99)]

    month = END - timedelta(days=30)
    started = time.perf_counter()
    report = build_report(center, since=month, until=END, now=END)
    result["report_month_s"] = time.perf_counter() - started
    result["report_month_events"] = float(report.total_requests)
    result["report_month_violations"] = float(len(report.violations))
    started = time.perf_counter()
    counted = tally_store(center, month, END)
    result["sums_sql_s"] = time.perf_counter() - started
    grace = center.settings.violation_grace
    started = time.perf_counter()
    center.store.read(lambda session: session.violations_between(month, END, grace))
    result["violations_month_s"] = time.perf_counter() - started
    if by_event:
        # What the report did before: every event of the month into Python, and every
        # contact joined with every suppression.
        started = time.perf_counter()
        assert tally_events(center.store.events(month, END)) == counted
        result["sums_python_s"] = time.perf_counter() - started
        started = time.perf_counter()
        every = center.store.violations(grace)
        result["violations_all_s"] = time.perf_counter() - started
        result["violations_all"] = float(len(every))

    table, _ = store_bytes(url, "events")
    result["bytes_per_event"] = table / rows
    table, _ = store_bytes(url, "contacts")
    result["bytes_per_contact"] = table / rows
    return result


def purge(center: Any) -> dict[str, float]:
    started = time.perf_counter()
    done = center.purge()
    seconds = time.perf_counter() - started
    return {"purge_s": seconds, "purged_contacts": float(done.contacts)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rows", default="100000", help="event counts, comma-separated (1000000,10000000)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument(
        "--index-after-load",
        action="store_true",
        help="build the log's indexes after loading it (how 100M is built in an evening)",
    )
    parser.add_argument(
        "--no-by-event",
        action="store_true",
        help="skip the event-by-event reading and the whole-ledger join (minutes at 10M)",
    )
    add_option(parser)
    args = parser.parse_args(argv)
    sizes = [100_000] if args.quick else [int(part) for part in args.rows.split(",")]
    from prefcenter.center import PreferenceCenter
    from prefcenter.config import load_settings

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
        tmp = Path(scratch)
        for size in sizes:
            # A fresh store per size: purge changes the ledger.
            with database(args.backend, tmp / str(size), f"audit{size}") as url:
                values = {"database": url, "secret": SECRET, "pepper": PEPPER,
                          "var_dir": str(tmp / "var")}  # fmt: skip
                settings = load_settings(values, environ={}, generate_dev_keys=False)
                center = PreferenceCenter(settings, clock=lambda: END)
                started = time.perf_counter()
                with indexes_after_load(url, args.index_after_load):
                    fill(center, url, 0, size, size)
                build = time.perf_counter() - started
                figures = {
                    "build_s": build,
                    **measure(center, url, size, by_event=not args.no_by_event),
                    **purge(center),
                }
                center.close()
                results.append(figures)
                print(json.dumps({k: round(v, 3) for k, v in figures.items()}), flush=True)
    print(f"\n{args.backend}: | events (and ledger rows) | build s | history ms | "
          "report, last 30 days, s | sums SQL / by event s | violations month / all s | "
          "purge s (rows) | bytes/event | bytes/ledger row |")  # fmt: skip
    for r in results:
        by_event = r.get("sums_python_s", float("nan"))
        every = r.get("violations_all_s", float("nan"))
        print(f"| {r['rows']:,.0f} | {r['build_s']:.0f} | {r['history_mean_ms']:.2f} / "
              f"{r['history_p99_ms']:.2f} | {r['report_month_s']:.2f} "
              f"({r['report_month_events']:,.0f} events, {r['report_month_violations']:,.0f} "
              f"violations) | {r['sums_sql_s']:.2f} / "
              f"{by_event:.2f} | {r['violations_month_s']:.2f} / {every:.2f} | "
              f"{r['purge_s']:.1f} ({r['purged_contacts']:,.0f}) | "
              f"{r['bytes_per_event']:.0f} | {r['bytes_per_contact']:.0f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
