"""Canonicalising a chunk of plain email addresses at once, for campaign filtering.

``filter`` canonicalises millions of addresses, and one Python call per address (the
fast path in :mod:`prefcenter.identity`) costs more than everything else done per row.
Most lists are plain ASCII, so a chunk is joined into one string and a handful of
C-speed string operations prove that every line is something ``fast_email`` accepts
unchanged apart from case. Lines that need a closer look (a ``+`` tag, a Gmail address,
characters allowed only before the ``@``, long lines) go through ``fast_email`` or the
folding step one by one; a chunk that fails the check is halved until the odd lines are
found. Property tests hold :func:`fast_emails` to ``fast_email`` on every input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from prefcenter.identity.email import Folding, fast_email, fold_email

#: Lines, each ending in "\n", that ``fast_email`` accepts unchanged once they are at most
#: ``_SHORT`` long: dot-atom local part; LDH labels with single inner hyphens (so no
#: "--", which fast_email leaves to the full path); a letters-only top-level label that
#: is not a special-use name. Possessive, so the whole chunk is one pass without
#: backtracking.
_CHUNK = re.compile(
    r"(?:[a-z0-9_'+=-]++(?:\.[a-z0-9_'+=-]++)*+"
    r"@(?:[a-z0-9]++(?:-[a-z0-9]++)*+\.)++"
    r"(?!(?:arpa|invalid|local|localhost|onion|test)\n)[a-z]{2,63}+\n)*+",
    re.ASCII,
)
#: No line this short can break the local-part (64), label (63) or length (254) limits.
_SHORT = 64
#: Lines holding these may fold to something shorter (sub-address tag, Gmail dots).
_FOLDS = ("+", "gmail.com", "googlemail.com")
#: Below this many lines a chunk is done line by line.
_SMALLEST = 32


def fast_emails(values: Sequence[str], folding: Folding) -> list[str | None]:
    """``[fast_email(value.strip(), folding) for value in values]``, a chunk at a time.

    None, as from ``fast_email``, means the value needs the full path (which decides
    whether it is valid).
    """
    found: list[str | None] = [None] * len(values)
    _fill(values, 0, len(values), found, folding)
    return found


def _fill(
    values: Sequence[str], low: int, high: int, found: list[str | None], folding: Folding
) -> None:
    if high - low <= _SMALLEST:
        for index in range(low, high):
            value = values[index]
            # Not text (None from a CSV library, a number): the full path says why.
            found[index] = fast_email(value.strip(), folding) if isinstance(value, str) else None
        return
    lines = _plain_lines(values[low:high], folding)
    if lines is None:
        middle = (low + high) // 2
        _fill(values, low, middle, found, folding)
        _fill(values, middle, high, found, folding)
        return
    found[low:high] = lines


def _plain_lines(values: Sequence[str], folding: Folding) -> list[str | None] | None:
    """Canonical forms of a chunk whose every line passes ``_CHUNK``, else None."""
    try:
        joined = "\n".join(values)
    except TypeError:  # an item that is not text: split the chunk down to it
        return None
    if not joined.isascii():
        return None
    lowered = joined.lower()
    if not _CHUNK.fullmatch(lowered + "\n"):
        return None
    lines = lowered.split("\n")
    if len(lines) != len(values) or max(map(len, lines)) > _SHORT:
        return None
    canonical: list[str | None] = list(lines)
    for mark in _FOLDS:
        if mark in lowered:
            for index in [index for index, line in enumerate(lines) if mark in line]:
                local, _, domain = lines[index].partition("@")
                canonical[index] = fold_email(local, domain, folding)
    return canonical
