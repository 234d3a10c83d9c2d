"""The report by day, as the console draws it: requests, time to honour, queue, rates.

:func:`build_trends` counts in the database (one ``GROUP BY`` per table over the
period's index range), so a period of 100,000 audit events costs a few milliseconds
of the database's time and none of Python's; :mod:`prefcenter.report` keeps the
exact medians and the text report.

Complaint lines: Gmail and Yahoo ask bulk senders to keep the spam complaint rate
below 0.1 % and never reach 0.3 % (Gmail's sender guidelines, 2024).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefcenter.model import Action, Source
from prefcenter.report.compliance import (
    OPT_OUT_ACTIONS,
    REQUEST_ACTIONS,
    HonourTimes,
    Violation,
    as_violation,
)

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.store.protocol import Session

#: The complaint rates mailbox providers hold bulk senders to.
COMPLAINT_TARGET = 0.001
COMPLAINT_LIMIT = 0.003
#: Time-to-honour buckets: upper edges; the last bucket is everything beyond.
HONOUR_EDGES = (
    ("under 1 hour", timedelta(hours=1)),
    ("1-6 hours", timedelta(hours=6)),
    ("6-24 hours", timedelta(days=1)),
    ("1-2 days", timedelta(days=2)),
    ("2-3 days", timedelta(days=3)),
    ("3-10 days", timedelta(days=10)),
)
HONOUR_BEYOND = "over 10 days"
#: The deadline the chart draws: two days, the mailbox providers' one-click deadline.
HONOUR_LINE = timedelta(days=2)
MAX_VIOLATIONS = 200
#: Days before a period's first day that the day cache still keeps.
KEEP_DAYS = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per day and label: ``counts[label][i]`` is the count on ``days[i]``."""

    days: list[date]
    counts: dict[str, list[int]]

    def total(self, label: str) -> int:
        """All days of one label."""
        return sum(self.counts.get(label, []))


@dataclass(frozen=True, slots=True)
class Trends:
    """What the console's report page draws.

    Attributes:
        since, until: the period (UTC days, ``until`` excluded).
        by_source: requests per day and source.
        by_channel: requests per day and channel.
        honour: (bucket label, opt-outs) in bucket order.
        honoured_in_time: opt-outs honoured within :data:`HONOUR_LINE`, and all opt-outs.
        open_exceptions, overdue_exceptions: the queue now.
        violations: contacts after an opt-out (at most :data:`MAX_VIOLATIONS`, newest).
        violation_count: all of them.
        sends: contacts recorded per day (label ``sent``).
        bounces, complaints: per day.
        counted_at: when today's counts were read (a cache may keep them a few seconds).
        honour_times: median, p95 and maximum time to honour over the period's opt-outs
            (exact: the same figures as ``prefcenter report``).
    """

    since: datetime
    until: datetime
    by_source: Series
    by_channel: Series
    honour: list[tuple[str, int]]
    honoured_in_time: tuple[int, int]
    open_exceptions: int
    overdue_exceptions: int
    violations: list[Violation]
    violation_count: int
    sends: list[int]
    bounces: list[int]
    complaints: list[int]
    counted_at: datetime | None = None
    honour_times: HonourTimes = field(default_factory=lambda: HonourTimes(count=0))

    def rates(self) -> list[tuple[date, int, float | None, float | None]]:
        """Per day: sends, bounce rate and complaint rate (None on a day without sends)."""
        return [
            (day, sent, bounced / sent if sent else None, complained / sent if sent else None)
            for day, sent, bounced, complained in zip(
                self.by_source.days, self.sends, self.bounces, self.complaints, strict=True
            )
        ]


@dataclass(frozen=True, slots=True)
class _Day:
    """Everything the report counts for one UTC day."""

    by_source: dict[str, int]
    by_channel: dict[str, int]
    honour: list[int]
    bounces: int
    complaints: int
    sends: int
    violations: list[Violation]
    #: Milliseconds from request to change of each opt-out, sorted.
    delays: array[int] = field(default_factory=lambda: array("q"))


@dataclass
class DayCache:
    """Counts of complete past days, so that a report reads only today from the store.

    Audit events are appended with the time of their commit, so a past day's counts do
    not change; a send recorded late (``record_sent(at=...)`` in the past) can add a
    violation to a past day, which the cache picks up once its entry is ``ttl`` old.
    """

    ttl: timedelta = timedelta(minutes=10)
    days: dict[date, tuple[datetime, _Day]] = field(default_factory=dict)
    #: Today's counts are read again once this old: a reload within it costs no read of
    #: the day's events (thousands of rows on a busy day), and shows them that old.
    today_ttl: timedelta = timedelta(seconds=15)
    today: tuple[datetime, date, _Day] | None = None
    #: The past days' delays of the last period asked for, merged (key: its days and
    #: when each was counted), so a report sorts only today's.
    merged: tuple[tuple[object, ...], array[int]] | None = None

    def past_delays(self, days: Sequence[date]) -> array[int]:
        """The delays of the complete past ``days`` (all cached), in one sorted array."""
        key = tuple((day, self.days[day][0]) for day in days)
        if self.merged is None or self.merged[0] != key:
            runs = [self.days[day][1].delays for day in days]
            self.merged = key, array("q", sorted(delay for run in runs for delay in run))
        return self.merged[1]

    def fresh(self, day: date, now: datetime) -> _Day | None:
        """The cached counts of ``day`` if younger than ``ttl``."""
        found = self.days.get(day)
        return found[1] if found is not None and now - found[0] < self.ttl else None

    def fresh_today(self, day: date, now: datetime) -> tuple[datetime, _Day] | None:
        """Today's cached counts and when they were read, if younger than ``today_ttl``."""
        if self.today is None or self.today[1] != day or now - self.today[0] >= self.today_ttl:
            return None
        return self.today[0], self.today[2]


def _count_days(center: PreferenceCenter, since: datetime, until: datetime) -> dict[date, _Day]:
    """Count ``since .. until`` (whole UTC days): one grouped pass over events, sends, stops."""
    requests = sorted(action.value for action in REQUEST_ACTIONS)
    opt_outs = sorted(action.value for action in OPT_OUT_ACTIONS)
    edges = [int(edge.total_seconds() * 1000) for _, edge in HONOUR_EDGES]
    # Every bounce and complaint event: one that stopped someone, scored, or was kept as
    # evidence only (issue 21).
    problems = [Action.SUPPRESS.value, Action.SOFT_BOUNCE.value, Action.BOUNCE.value]
    sources = [Source.BOUNCE.value, Source.COMPLAINT.value]
    grace = center.settings.violation_grace

    every = sorted(set(requests) | set(problems))

    def read(session: Session) -> tuple[list[tuple[datetime, str, str, str, int, int]], Any, Any]:
        return (
            session.event_facts(since, until, every, edges),
            session.sends_by_day(since, until),
            session.honour_delays(since, until, opt_outs),
        )

    facts, sends, delays = center.store.read(read)
    found = center.store.read(lambda session: session.violations_between(since, until, grace))
    days: dict[date, _Day] = {}
    day = since.date()
    while day < until.date():
        days[day] = _Day({}, {}, [0] * (len(HONOUR_EDGES) + 1), 0, 0, 0, [])
        day += timedelta(days=1)
    wanted, stops = set(requests), set(opt_outs)
    for moment, action, source, channel, bucket, count in facts:
        counted = days[moment.date()]
        if action in wanted:
            counted.by_source[source] = counted.by_source.get(source, 0) + count
            counted.by_channel[channel] = counted.by_channel.get(channel, 0) + count
        if action in stops:
            counted.honour[bucket] += count
        if action in problems and source in sources:
            kind = "bounces" if source == Source.BOUNCE.value else "complaints"
            days[moment.date()] = _replace(counted, **{kind: getattr(counted, kind) + count})
    for row in sends:
        days[row.day.date()] = _replace(days[row.day.date()], sends=row.count)
    for number, delay in delays:  # by day, then delay: each day's array comes sorted
        days[date.fromordinal(_EPOCH + number)].delays.append(max(0, delay))
    for suppression, contact in found:
        days[contact.at.date()].violations.append(as_violation(suppression, contact))
    return days


#: ``date.toordinal`` of 1970-01-01: a UTC day number plus this is its ordinal.
_EPOCH = date(1970, 1, 1).toordinal()


def _replace(day: _Day, **changes: int) -> _Day:
    values = {name: getattr(day, name) for name in _Day.__slots__}
    values.update(changes)
    return _Day(**values)


def build_trends(
    center: PreferenceCenter,
    *,
    days: int = 30,
    now: datetime | None = None,
    cache: DayCache | None = None,
) -> Trends:
    """Count the last ``days`` UTC days (today included) from the center's store.

    With a ``cache``, complete past days are counted once (per ``cache.ttl``) and only
    today is read, at most every ``cache.today_ttl``; the queue counts are read each time.
    """
    now = now or center.now()
    today = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    until = today + timedelta(days=1)
    since = until - timedelta(days=days)
    day_list = [(since + timedelta(days=offset)).date() for offset in range(days)]
    cache = cache if cache is not None else DayCache()
    missing = [day for day in day_list[:-1] if cache.fresh(day, now) is None]
    if missing:
        start = datetime.combine(missing[0], datetime.min.time(), tzinfo=UTC)
        for day, counted in _count_days(center, start, today).items():
            cache.days[day] = (now, counted)
        for day in [day for day in cache.days if day < day_list[0] - KEEP_DAYS]:
            del cache.days[day]  # past any period the console offers
    cached_today = cache.fresh_today(today.date(), now)
    if cached_today is None:
        cached_today = now, _count_days(center, today, until)[today.date()]
        cache.today = (now, today.date(), cached_today[1])
    counted_at, counted_today = cached_today
    per_day = [cache.days[day][1] for day in day_list[:-1]] + [counted_today]
    open_count, overdue = center.store.read(lambda session: session.exception_counts(now))
    honour = [0] * (len(HONOUR_EDGES) + 1)
    for counted in per_day:
        honour = [a + b for a, b in zip(honour, counted.honour, strict=True)]
    labelled = [(label, honour[i]) for i, (label, _) in enumerate(HONOUR_EDGES)]
    labelled.append((HONOUR_BEYOND, honour[-1]))
    in_time = sum(
        count for (_, edge), count in zip(HONOUR_EDGES, honour, strict=False) if edge <= HONOUR_LINE
    )
    past = cache.past_delays(day_list[:-1])
    violations = [v for counted in per_day for v in counted.violations]
    violations.sort(key=lambda v: v.sent_at, reverse=True)
    return Trends(
        since=since,
        until=until,
        by_source=_series(day_list, [d.by_source for d in per_day]),
        by_channel=_series(day_list, [d.by_channel for d in per_day]),
        honour=labelled,
        honoured_in_time=(in_time, sum(honour)),
        open_exceptions=open_count,
        overdue_exceptions=overdue,
        violations=violations[:MAX_VIOLATIONS],
        violation_count=len(violations),
        sends=[d.sends for d in per_day],
        bounces=[d.bounces for d in per_day],
        complaints=[d.complaints for d in per_day],
        counted_at=counted_at,
        honour_times=honour_times(past, counted_today.delays),
    )


def honour_times(past: Sequence[int], today: Sequence[int]) -> HonourTimes:
    """Median, p95 (nearest rank) and maximum of two sorted runs of milliseconds, as
    :func:`prefcenter.report.compliance.honour_times` defines them, without merging."""
    count = len(past) + len(today)
    if not count:
        return HonourTimes(count=0)

    def at(rank: int) -> timedelta:
        return timedelta(milliseconds=kth_smallest(past, today, rank))

    middle = count // 2
    median = at(middle + 1) if count % 2 else (at(middle) + at(middle + 1)) / 2
    return HonourTimes(
        count=count, median=median, p95=at(max(1, math.ceil(0.95 * count))), max=at(count)
    )


def kth_smallest(a: Sequence[int], b: Sequence[int], k: int) -> int:
    """The ``k``-th smallest (1-based) of two sorted sequences together, in O(log n)."""
    low, high = max(0, k - len(b)), min(k, len(a))
    while low < high:  # the fewest taken from a such that a[i] >= b[k - i - 1]
        taken = (low + high) // 2
        if a[taken] < b[k - taken - 1]:
            low = taken + 1
        else:
            high = taken
    from_a = a[low - 1] if low > 0 else None
    from_b = b[k - low - 1] if k - low > 0 else None
    return max(v for v in (from_a, from_b) if v is not None)


def _series(days: list[date], counts: list[dict[str, int]]) -> Series:
    labels = sorted({label for day in counts for label in day})
    return Series(days, {label: [day.get(label, 0) for day in counts] for label in labels})


__all__ = [
    "COMPLAINT_LIMIT",
    "COMPLAINT_TARGET",
    "HONOUR_LINE",
    "DayCache",
    "Series",
    "Trends",
    "build_trends",
    "honour_times",
    "kth_smallest",
]
