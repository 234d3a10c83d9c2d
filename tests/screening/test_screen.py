"""When the screen reads the store into memory, and that it answers the same either way."""

from __future__ import annotations

from prefcenter.center import PreferenceCenter
from prefcenter.model import Reason, Source
from prefcenter.screening.screen import INDEX_MIN_ROWS

PEOPLE = [f"user{n}@example.com" for n in range(INDEX_MIN_ROWS + 500)]


def _suppress_every_seventh(center: PreferenceCenter) -> None:
    with center.transaction() as changes:
        for person in PEOPLE[::7]:
            changes.suppress(person, source=Source.IMPORT)


def test_a_long_list_switches_to_the_index_and_answers_the_same(
    center: PreferenceCenter,
) -> None:
    _suppress_every_seventh(center)
    chunk = 1000
    with center.screen() as screen, center.screen() as asked:
        asked.index_limit = 0  # never reads the index: asks the store per chunk
        switched_at = None
        for start in range(0, len(PEOPLE), chunk):
            values = PEOPLE[start : start + chunk]
            assert screen(values) == asked(values)
            if switched_at is None and screen.indexed:
                switched_at = start + chunk
        assert not asked.indexed
    # Not before the list is long enough to be worth counting the store's rows.
    assert switched_at == INDEX_MIN_ROWS


def test_a_short_list_never_reads_the_index(center: PreferenceCenter) -> None:
    _suppress_every_seventh(center)
    with center.screen() as screen:
        reasons = screen(PEOPLE[:50])
        assert not screen.indexed
    assert reasons.count(Reason.UNSUBSCRIBED_GLOBAL) == len(PEOPLE[:50:7])


def test_a_store_larger_than_the_limit_is_never_read_whole(center: PreferenceCenter) -> None:
    _suppress_every_seventh(center)
    with center.screen(expected_rows=10**9) as screen:
        screen.index_limit = len(PEOPLE[::7]) - 1
        reasons = screen(PEOPLE)
        assert not screen.indexed
    assert reasons.count(Reason.UNSUBSCRIBED_GLOBAL) == len(PEOPLE[::7])


def test_an_estimate_reads_the_index_at_the_first_chunk(center: PreferenceCenter) -> None:
    _suppress_every_seventh(center)
    with center.screen(expected_rows=INDEX_MIN_ROWS) as screen:
        screen(PEOPLE[:10])
        assert screen.indexed
