"""SMS keywords, matched as carriers and Twilio match them: the whole message, one word.

CTIA's messaging principles and Twilio's default opt-out handling act on a message that
is exactly a keyword, whatever its case and whatever punctuation or spacing surrounds
it: ``stop``, ``Stop!`` and `` STOP. `` all opt out, ``opt-out`` is ``OPTOUT``, while
"don't stop" or "stop sending deals on Tuesdays" are not keywords. A message that is
no keyword but asks in its own words to stop ("please stop texting me") goes to a
person (:func:`asks_to_stop`), as free-text replies to email do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

#: Twilio's and the carriers' default opt-out keywords.
STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT")
#: Opt back in.
START_WORDS = ("START", "UNSTOP", "YES")
#: Ask for help (answered, changes nothing).
HELP_WORDS = ("HELP", "INFO")
#: Longest message still read as a keyword (a keyword is one short word).
MAX_KEYWORD = 40

_ASKS = re.compile(
    r"\b(stop|unsubscribe|opt\W?out|remove me|take me off|no more|leave me alone|"
    r"don'?t (?:text|message|contact|call)|do not (?:text|message|contact|call))",
    re.IGNORECASE,
)


class Keyword(StrEnum):
    """What a keyword message asks."""

    STOP = "stop"
    START = "start"
    HELP = "help"


def normalise(message: str) -> str:
    """The message as a keyword candidate: letters and digits only, upper case."""
    return "".join(character for character in message if character.isalnum()).upper()


@dataclass(frozen=True)
class Keywords:
    """The keyword sets in use: the defaults plus the configured words per language."""

    stop: frozenset[str]
    start: frozenset[str]
    help: frozenset[str]

    @classmethod
    def with_extra(
        cls, stop: Iterable[str] = (), start: Iterable[str] = (), help: Iterable[str] = ()
    ) -> Keywords:
        """The defaults plus ``stop``, ``start`` and ``help`` words (e.g. ARRET, ALTO)."""
        return cls(
            frozenset(normalise(word) for word in (*STOP_WORDS, *stop) if normalise(word)),
            frozenset(normalise(word) for word in (*START_WORDS, *start) if normalise(word)),
            frozenset(normalise(word) for word in (*HELP_WORDS, *help) if normalise(word)),
        )

    def match(self, message: str) -> Keyword | None:
        """The keyword ``message`` is, or None. Opt-out wins if a word is in two sets."""
        if len(message) > 4 * MAX_KEYWORD:
            return None
        word = normalise(message)
        if not word or len(word) > MAX_KEYWORD:
            return None
        if word in self.stop:
            return Keyword.STOP
        if word in self.start:
            return Keyword.START
        if word in self.help:
            return Keyword.HELP
        return None


def asks_to_stop(message: str) -> bool:
    """True when free text seems to ask to stop; a person decides (never acted on alone)."""
    return _ASKS.search(message[:2000]) is not None


__all__ = [
    "HELP_WORDS",
    "START_WORDS",
    "STOP_WORDS",
    "Keyword",
    "Keywords",
    "asks_to_stop",
    "normalise",
]
