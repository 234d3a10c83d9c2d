"""SMS keywords are matched as carriers match them: the whole message, any case or
punctuation around it; anything more is free text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.providers.keywords import (
    HELP_WORDS,
    START_WORDS,
    STOP_WORDS,
    Keyword,
    Keywords,
    asks_to_stop,
)

KEYWORDS = Keywords.with_extra(stop=["ARRET", "Alto"])
_noise = st.text(" \t\n.!?,;:-'\"*", max_size=4)


def _mixed_case(word: str, flips: list[bool]) -> str:
    return "".join(
        c.lower() if flip else c for c, flip in zip(word, flips + [False] * 40, strict=False)
    )


@given(word=st.sampled_from([*STOP_WORDS, "ARRET", "ALTO"]), before=_noise, after=_noise,
       flips=st.lists(st.booleans(), max_size=12))  # fmt: skip
def test_an_opt_out_word_with_any_case_and_punctuation_is_stop(
    word: str, before: str, after: str, flips: list[bool]
) -> None:
    assert KEYWORDS.match(before + _mixed_case(word, flips) + after) is Keyword.STOP


@given(word=st.sampled_from(START_WORDS), after=_noise)
def test_opt_in_words_are_start(word: str, after: str) -> None:
    assert KEYWORDS.match(word.lower() + after) is Keyword.START


@given(word=st.sampled_from(HELP_WORDS), after=_noise)
def test_help_words_are_help(word: str, after: str) -> None:
    assert KEYWORDS.match(word.title() + after) is Keyword.HELP


@given(
    word=st.sampled_from(STOP_WORDS),
    extra=st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
)
def test_a_keyword_inside_more_words_is_not_a_keyword(word: str, extra: str) -> None:
    assert KEYWORDS.match(f"{word} {extra}") is None
    assert KEYWORDS.match(f"{extra} {word}") is None


@pytest.mark.parametrize(
    "text",
    ["please stop texting me", "Stop sending me these", "UNSUBSCRIBE me now", "don't text me again",
     "take me off your list", "opt out please"],
)  # fmt: skip
def test_free_text_asking_to_stop_is_noticed(text: str) -> None:
    assert KEYWORDS.match(text) is None
    assert asks_to_stop(text)


@pytest.mark.parametrize("text", ["What time do you open?", "Thanks!", "yes please, 2 tickets"])
def test_other_free_text_is_not(text: str) -> None:
    assert not asks_to_stop(text)


def test_opt_out_wins_when_a_word_is_in_two_sets() -> None:
    keywords = Keywords.with_extra(stop=["YES"])
    assert keywords.match("yes") is Keyword.STOP
