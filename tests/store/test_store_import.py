"""An ESP import on each backend: bulk writes by key range, replays recognised in bulk.

Runs on a SQLite file and on a real PostgreSQL (pgserver), where the import's groups go
through ``remember_many`` and ``suppress_batch`` as ``unnest`` arrays sent in binary.
"""

from __future__ import annotations

import csv
import io

from prefcenter.center import PreferenceCenter
from prefcenter.esp import import_records, records
from prefcenter.model import Scope, Source


def export(rows: int, repeat: int) -> str:
    """A SendGrid bounces export; the first ``repeat`` people bounce again, later."""
    sink = io.StringIO()
    writer = csv.writer(sink)
    writer.writerow(["email", "created", "reason", "status"])
    for n in range(rows):
        writer.writerow([f"b{n}@store.example.org", 1_500_000_000 + n, 'it\'s "gone"', "5.1.1"])
    for n in range(repeat):
        writer.writerow([f"b{n}@store.example.org", 1_500_100_000 + n, "gone, again", "5.1.1"])
    return sink.getvalue()


def test_an_import_writes_every_row_once_on_each_backend(center: PreferenceCenter) -> None:
    text = export(1200, 30)
    summary = import_records(center, records(io.StringIO(text)), "sendgrid")
    assert (summary.rows, summary.added, summary.known, summary.rejected) == (1230, 1200, 30, 0)
    events = list(center.store.events())
    assert len(events) == 1230
    assert {event.source for event in events} == {Source.IMPORT}
    assert {event.scope for event in events} == {Scope.HARD}
    assert any(event.reason == 'sendgrid bounce: 5.1.1 it\'s "gone"' for event in events)
    # The address is kept beside the hash (remember_many), as one suppress would keep it.
    page = center.feed(None, 1000)
    assert {event["address"] for event in page.events} <= {
        f"b{n}@store.example.org" for n in range(1200)
    }
    again = import_records(center, records(io.StringIO(text)), "sendgrid")
    assert (again.added, again.known) == (0, 1230)
    assert len(list(center.store.events())) == 1230
    assert center.check("b7@store.example.org").allowed is False
