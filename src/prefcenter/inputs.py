"""Checks of the plain values callers pass everywhere: enum names and times.

Every public entry point takes channels, kinds and sources as the enum or its string,
and times as aware datetimes. A wrong one must be an :class:`InvalidInput` that names
it and the choices, raised before anything is written, not a bare ``ValueError`` from
deep inside (or, for a naive time, a wrong answer).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from prefcenter.errors import InvalidInput

E = TypeVar("E", bound=StrEnum)

#: How far ahead of this host's clock a reported time may be (another host's clock).
CLOCK_SKEW = timedelta(minutes=5)


def choice(kind: type[E], value: E | str, what: str) -> E:
    """``kind(value)``: the member itself, or the member with that value.

    Raises:
        InvalidInput: no member has that value; the message lists those that do.
    """
    if type(value) is kind:
        return value
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(member.value for member in kind)
        raise InvalidInput(
            f"{what.capitalize()} {value!r} does not exist; use one of {names}.",
            value=value,
            reason=f"unknown {what}",
        ) from None


def aware(moment: datetime, what: str) -> datetime:
    """``moment`` when it is a timezone-aware datetime.

    Raises:
        InvalidInput: it is naive or not a datetime.
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInput(
            f"{what.capitalize()} {moment!r} is not usable; pass a timezone-aware datetime "
            "(such as datetime.now(UTC)).",
            value=moment,
            reason="naive",
        )
    return moment


def not_later(moment: datetime, now: datetime, what: str) -> datetime:
    """An aware ``moment`` that is not in the future (beyond ``CLOCK_SKEW``).

    Raises:
        InvalidInput: it is naive, or later than ``now`` plus the skew.
    """
    aware(moment, what)
    if moment > now + CLOCK_SKEW:
        raise InvalidInput(
            f"{what.capitalize()} {moment.isoformat()} is in the future (now "
            f"{now.isoformat()}); give the time it happened.",
            value=moment,
            reason="future",
        )
    return moment


def requested(moment: datetime | None, at: datetime) -> datetime | None:
    """A change's ``requested_at``: None, or an aware time not after the change's ``at``.

    Raises:
        InvalidInput: naive, or later than ``at`` (beyond ``CLOCK_SKEW``): a request
            cannot come after it was honoured.
    """
    return None if moment is None else not_later(moment, at, "requested_at")
