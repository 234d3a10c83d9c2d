"""An ESP import on each backend: bulk writes by key range, replays recognised in bulk.

Runs on a SQLite file and on a real PostgreSQL (pgserver), where the import's groups go
through ``remember_many`` and ``suppress_batch`` as ``unnest`` arrays sent in binary.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from prefcenter.center import PreferenceCenter
from prefcenter.esp import import_records, import_stream, importer, records
from prefcenter.model import Action, Channel, Scope, Source
from prefcenter.store.protocol import NewEvent


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


def test_a_two_core_import_writes_what_a_one_core_import_does_on_each_backend(
    center: PreferenceCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store's connections (PostgreSQL's pool and its threads) are let go before the
    # reader forks; pass two opens new ones.
    monkeypatch.setattr(importer, "CHUNK", 100)
    monkeypatch.setattr(importer, "ALONE", 3)
    center.check("b1@store.example.org")  # a connection is open before the import
    text = export(1200, 30)
    summary = import_stream(center, io.StringIO(text, newline=""), "sendgrid", parallel=True)
    assert (summary.rows, summary.added, summary.known, summary.rejected) == (1230, 1200, 30, 0)
    events = list(center.store.events())
    assert len(events) == 1230
    # Each person's two bounces in file order (earlier row, earlier event), whichever
    # process read each row.
    dates: dict[str, list[datetime]] = {}
    for event in events:
        assert event.requested_at is not None
        dates.setdefault(event.identity_hash, []).append(event.requested_at)
    twice = [found for found in dates.values() if len(found) == 2]
    assert len(twice) == 30 and all(found == sorted(found) for found in twice)
    again = import_stream(center, io.StringIO(text, newline=""), "sendgrid", parallel=True)
    assert (again.added, again.known) == (0, 1230)
    assert center.check("b7@store.example.org").allowed is False


def _outbox(center: PreferenceCenter) -> list[tuple[int, int]]:
    return center.store.read(
        lambda session: [
            (int(event), int(endpoint))
            for event, endpoint in session._rows(  # type: ignore[attr-defined]
                "SELECT event_id, endpoint FROM outbox ORDER BY id"
            )
        ]
    )


def test_an_import_into_a_store_with_rows_adds_only_what_is_new(center: PreferenceCenter) -> None:
    """Some people already opted out (one-click) or were imported; the file names them
    again, twice in one chunk, and under two lists: the merge writes each change once,
    keeps the dates and reasons, and credits each suppression to the row that added it."""
    center.suppress("old0@store.example.org", source=Source.ONE_CLICK)
    center.suppress("old1@store.example.org", hard=True, source=Source.BOUNCE, reason="550")
    endpoints = center.store.run(lambda s: s.sync_endpoints(["https://hooks.example/a"]))
    text = (
        "address,kind,reason,date,topic\n"
        "old0@store.example.org,unsubscribe,ticked,2024-01-02T03:04:05Z,\n"
        "old1@store.example.org,bounce,mailbox gone,2024-01-03,\n"
        "new0@store.example.org,bounce,mailbox gone,1700000000,\n"
        "new0@store.example.org,bounce,mailbox gone,1700000000,\n"
        "new0@store.example.org,spam,complained,1700000100,\n"
        "new1@store.example.org,spam,complained,1700000200,\n"
        "new1@store.example.org,topic,tired of it,1700000300,weekly news\n"
    )
    summary = import_records(center, records(io.StringIO(text)), "csv")
    assert (summary.rows, summary.added, summary.known, summary.rejected) == (7, 3, 4, 0)
    assert summary.by_kind == {"bounce": 1, "spam": 1, "group": 1}
    imported = [e for e in center.store.events() if e.source is Source.IMPORT]
    # old0, old1 and new1 twice: an event each; new0's two distinct rows (the repeated
    # row is one change): six events, each with its date and reason.
    assert len(imported) == 6
    (first,) = [e for e in center.history("old0@store.example.org") if e.source is Source.IMPORT]
    assert (
        first.reason == "ticked" and first.evidence == "import:csv:unsubscribe:2024-01-02T03:04:05Z"
    )
    assert first.requested_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    # new0: the bounce came first in the file, so it is the suppression's reason.
    (hard,) = center.suppressions("new0@store.example.org")
    assert (hard.scope, hard.reason) == (Scope.HARD, "mailbox gone")
    assert {s.scope for s in center.suppressions("new1@store.example.org")} == {
        Scope.HARD, Scope.TOPIC
    }  # fmt: skip
    assert center.check("new1@store.example.org", topic="weekly news").allowed is False
    # Every imported event queued for the registered endpoint, by the outbox trigger.
    (endpoint,) = endpoints.values()
    queued = _outbox(center)
    assert sorted(event for event, _ in queued) == sorted(int(e.id) for e in imported)
    assert {to for _, to in queued} == {endpoint}
    again = import_records(center, records(io.StringIO(text)), "csv")
    assert (again.added, again.known, again.by_kind) == (0, 7, {})
    assert len([e for e in center.store.events() if e.source is Source.IMPORT]) == 6
    assert len(_outbox(center)) == len(queued)


def test_every_bulk_write_path_queues_one_outbox_row_per_event(center: PreferenceCenter) -> None:
    """The outbox trigger (a statement-level one on PostgreSQL) sees the events of an
    import's merge, of ``suppress_events`` in one statement (the one-click group commit
    without a transaction, ``Store.suppress_alone``) and of one ``suppress``."""
    (endpoint,) = center.store.run(lambda s: s.sync_endpoints(["https://hooks.example/b"])).values()
    import_records(center, records(io.StringIO(export(40, 0))), "sendgrid")
    at = center.now()
    items = [
        (
            NewEvent(at, center.identity(f"g{n}@store.example.org").hash, Action.SUPPRESS,
                     Source.ONE_CLICK, Channel.EMAIL, Scope.GLOBAL, None, None, f"req-{n}"),
            None,
        )
        for n in range(25)
    ]  # fmt: skip
    assert center.suppress_events(items, []) == [True] * 25
    center.suppress("single@store.example.org", source=Source.API)
    events = sorted(int(event.id) for event in center.store.events())
    assert len(events) == 40 + 25 + 1
    queued = _outbox(center)
    assert [event for event, _ in queued] == events  # in event order, one each
    assert {to for _, to in queued} == {endpoint}
