"""The change feed: commit order, resumable cursors, and no event skipped when one commits late.

The same tests run on a SQLite file and on a real PostgreSQL (pgserver); the late-commit
tests hold a real transaction open on one connection while another writer commits.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.changes import SuppressRequest
from prefcenter.errors import InvalidInput
from prefcenter.feed import decode_cursor, encode_cursor, payload
from prefcenter.model import Source
from prefcenter.store.feed import FeedEvent
from tests.conftest import make_settings
from tests.store.conftest import Clock

ALICE = "alice@example.com"
BOB = "bob@example.com"


def read_all(
    center: PreferenceCenter, cursor: str | None = None, limit: int = 2
) -> tuple[list[dict[str, object]], str]:
    """Every event after ``cursor``, page by page; the events and the last cursor."""
    events: list[dict[str, object]] = []
    while True:
        page = center.feed(cursor, limit)
        events += page.events
        if not page.events:
            assert page.cursor == (cursor or page.cursor)
            return events, page.cursor
        cursor = page.cursor


def test_pages_in_commit_order_and_resume(open_center: Callable[..., PreferenceCenter]) -> None:
    center = open_center()
    center.suppress(ALICE, source=Source.CLI, reason="asked")
    center.set_topic(BOB, "news", False, source=Source.WEB)
    center.resubscribe(ALICE, reason="came back", source=Source.API)
    events, cursor = read_all(center)
    assert [e["kind"] for e in events] == ["suppress", "opt-out", "resubscribe"]
    assert events[0]["address"] == ALICE and events[0]["reason"] == "asked"
    assert events[1]["topic"] == "news" and events[1]["source"] == "web"
    # A consumer that restarts with its cursor resumes exactly after the last event.
    center.suppress(BOB, source=Source.CLI)
    more, _ = read_all(center, cursor)
    assert [e["address"] for e in more] == [BOB]
    assert center.feed_end() == center.feed(cursor, 10).cursor


def test_a_forgotten_identity_goes_out_as_its_hash(
    open_center: Callable[..., PreferenceCenter],
) -> None:
    center = open_center()
    center.suppress(ALICE, source=Source.CLI)
    center.forget(ALICE, source=Source.CLI)
    events, _ = read_all(center)
    assert events and all(event["address"] is None for event in events)
    assert {e["identity_hash"] for e in events} == {center.identity(ALICE).hash_hex}


def test_a_bad_cursor_or_limit_is_refused(open_center: Callable[..., PreferenceCenter]) -> None:
    center = open_center()
    for cursor in ("nonsense", "c1.!!", encode_cursor((1, 2)) + "x", "c1.LTEuMg"):
        with pytest.raises(InvalidInput, match="was not made by this feed"):
            center.feed(cursor)
    for limit in (0, 1001, True):
        with pytest.raises(InvalidInput, match="Page size"):
            center.feed(None, limit)


@given(st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)))
def test_cursors_round_trip(position: tuple[int, int]) -> None:
    assert decode_cursor(encode_cursor(position)) == position


@given(st.text(max_size=40))
def test_decoding_any_text_gives_a_position_or_invalid_input(text: str) -> None:
    try:
        position = decode_cursor(text)
    except InvalidInput:
        return
    assert text == "" or encode_cursor(position) == text


@pytest.mark.postgres
def test_postgres_never_skips_an_event_that_commits_late(postgres_url: str, tmp_path: Path) -> None:
    """Writer A inserts first and commits last; the feed holds B back until A is done."""
    with (
        PreferenceCenter(make_settings(tmp_path, database=postgres_url)) as center,
        PreferenceCenter(make_settings(tmp_path, database=postgres_url)) as reader,
    ):
        _late_commit(center, reader)


def _late_commit(center: PreferenceCenter, reader: PreferenceCenter) -> None:
    center.suppress("first@example.com", source=Source.CLI)
    seen, cursor = read_all(reader)
    inserted, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_writer() -> None:
        with center.transaction() as txn:
            txn.suppress("late@example.com", source=Source.CLI)
            inserted.set()
            assert release.wait(30)
        finished.set()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(30)
    reader.suppress("early@example.com", source=Source.CLI)  # commits while A is open
    # B has committed with a higher id than A's; handing it out now would let the
    # consumer's cursor pass A's event, which would then never be read.
    page = reader.feed(cursor, 10)
    assert page.events == [] and page.cursor == cursor
    release.set()
    assert finished.wait(30)
    writer.join(30)
    later, _ = read_all(reader, cursor)
    assert [e["address"] for e in later] == ["late@example.com", "early@example.com"]
    assert len(seen) == 1


def test_concurrent_writers_and_a_polling_consumer_see_every_event_once(
    open_center: Callable[..., PreferenceCenter],
) -> None:
    """Four writers with random commit delays against a consumer reading as they go."""
    writers = [open_center() for _ in range(4)]
    consumer = open_center()
    per_writer = 25
    done = threading.Event()
    errors: list[BaseException] = []

    def write(index: int, center: PreferenceCenter) -> None:
        rng = random.Random(index)
        try:
            for n in range(per_writer):
                with center.transaction() as txn:
                    txn.suppress(f"w{index}-{n}@example.com", source=Source.CLI)
                    if rng.random() < 0.3:
                        threading.Event().wait(rng.random() / 100)  # commit a little late
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i, c)) for i, c in enumerate(writers)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    cursor: str | None = None

    def drain() -> None:
        nonlocal cursor
        page = consumer.feed(cursor, 7)
        while page.events:
            seen.extend(str(event["id"]) for event in page.events)
            cursor = page.cursor
            page = consumer.feed(cursor, 7)

    while any(thread.is_alive() for thread in threads):
        drain()
    for thread in threads:
        thread.join()
    done.set()
    drain()
    assert not errors
    assert len(seen) == len(set(seen)) == 4 * per_writer
    stored = [str(event.id) for event in consumer.store.events()]
    assert sorted(seen) == sorted(stored)


def test_the_json_the_store_writes_is_the_python_payload(
    open_center: Callable[..., PreferenceCenter], clock: Clock
) -> None:
    """Pages are written by the database (json_object / json_build_object); webhooks use
    ``payload``; both must say the same for every kind of event."""
    center = open_center()
    asked = clock.now - timedelta(hours=3, milliseconds=7)
    center.suppress(ALICE, source=Source.CLI, reason='said "stop" \u00e9', requested_at=asked)
    clock.advance(milliseconds=1)
    center.set_topic(BOB, "news", False, source=Source.WEB)
    center.set_frequency(BOB, 7, source=Source.API)
    center.suppress("c@example.com", hard=True, source=Source.BOUNCE, evidence="<m@x>")
    center.forget("c@example.com", source=Source.CLI)
    center.open_exception(mailbox="unsubscribe", why="no token", raw=b"x", evidence="<e@x>")
    expected = []
    with center.store.session() as session:
        for event in center.store.events():
            address = session.address(bytes.fromhex(event.identity_hash))
            expected.append(payload(FeedEvent(0, event, address)))
    assert center.feed(None, 1000).events == expected


def test_every_millisecond_prints_as_the_python_payload(
    open_center: Callable[..., PreferenceCenter], clock: Clock
) -> None:
    """The store prints times with one ``strftime`` (SQLite: ``%f`` of a float); every
    millisecond, at the edges of a second too, must print as ``payload`` does."""
    draw = random.Random(23)
    span = int((clock.now - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    seconds = [0, 1, 59, 951_782_400, span - 1, *(draw.randrange(span) for _ in range(40))]
    moments = [
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=second, milliseconds=ms)
        for second in seconds
        for ms in (0, 1, 499, 500, 501, 998, 999, draw.randrange(1000))
    ]
    center = open_center()
    requests = [
        SuppressRequest(f"r{n}@example.com", Source.IMPORT, evidence=f"t{n}", requested_at=at)
        for n, at in enumerate(moments)
        if at <= clock.now
    ]
    center.suppress_many(requests)
    with center.store.session() as session:
        expected = [
            payload(FeedEvent(0, event, session.address(bytes.fromhex(event.identity_hash))))
            for event in center.store.events()
        ]
    assert len(expected) == len(requests)
    assert center.feed(None, 1000).events == expected
