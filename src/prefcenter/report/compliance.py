"""The operator's report: are opt-outs honoured in time, and did anyone contact them after?

Built only from the audit log, the contact ledger and the exceptions queue, so it is the
same proof whoever made the changes:

- requests per source and channel (one-click, mailto, web, cli ...);
- time to honour: from when the person asked (``requested_at``) to when the change was
  committed (``at``), median, 95th percentile and maximum, over opt-outs;
- open and overdue exceptions (mail nobody has decided yet);
- violations: contacts recorded after an opt-out took effect, beyond the configured
  grace (``settings.violation_grace``, for campaigns already in flight), with who sent
  what when.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefcenter.errors import InvalidInput
from prefcenter.model import (
    Action,
    Channel,
    Contact,
    Event,
    ExceptionItem,
    Kind,
    Scope,
    Source,
    Suppression,
    show_time,
)
from prefcenter.store.codes import to_ms

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.store.audit import EventGroup
    from prefcenter.store.protocol import Session

#: One millisecond: the store keeps times to the millisecond, and ``until`` is inclusive.
_MS = timedelta(milliseconds=1)

#: Actions a person (or their mail system) asks for; counted as requests.
REQUEST_ACTIONS = frozenset(
    {
        Action.SUPPRESS,
        Action.OPT_OUT,
        Action.RESUBSCRIBE,
        Action.OPT_IN,
        Action.SET_FREQUENCY,
        Action.PAUSE,
        Action.RESUME,
        Action.FORGET,
    }
)
#: Requests to stop: the ones the law and the mailbox providers time (2 days, 10 days).
OPT_OUT_ACTIONS = frozenset({Action.SUPPRESS, Action.OPT_OUT})


@dataclass(frozen=True, slots=True)
class HonourTimes:
    """Time from request to honour over the opt-outs of the period.

    Attributes:
        count: opt-outs measured; one recorded without ``requested_at`` counts as immediate.
        median: the median delay, or None when there were none.
        p95: the 95th percentile (nearest rank).
        max: the longest delay.
    """

    count: int
    median: timedelta | None = None
    p95: timedelta | None = None
    max: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    """A contact recorded after the person's opt-out took effect, beyond the grace.

    Attributes:
        identity_hash: hex hash of the person contacted (never the clear address).
        channel: channel of the contact.
        topic: topic of the contact, if recorded.
        kind: marketing or transactional.
        sent_at: when the contact was recorded as sent.
        sender: who sent it, as recorded.
        message_id: the message or call id, as recorded.
        opted_out_at: when the opt-out that it broke took effect.
        scope: the opt-out's scope.
        source: where the opt-out came from.
        late_by: ``sent_at - opted_out_at``.
        address: the person's address where still known (not after ``forget``).
    """

    identity_hash: str
    channel: Channel
    topic: str | None
    kind: Kind
    sent_at: datetime
    sender: str | None
    message_id: str | None
    opted_out_at: datetime
    scope: Scope | None = None
    source: Source | None = None
    late_by: timedelta = timedelta(0)
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``prefcenter report`` shows.

    Attributes:
        since: start of the period (None: from the beginning).
        until: end of the period (when the report was made).
        requests: source -> channel -> number of requests.
        honour: time-to-honour statistics over the period's opt-outs.
        open_exceptions: exceptions still waiting for a person.
        overdue: the open exceptions past their due time, most overdue first.
        violations: contacts after an opt-out, beyond ``grace``, oldest first.
        grace: the grace applied.
        bounces: bounce outcomes of the period by action and reason
            (``hard: user-unknown``, ``scored: mailbox-full``, ``evidence: policy``).
        machine_mail_kept: machine-made mail kept for audit (not a person's item), in all.
        feedback: answers to the optional "why?" after an unsubscribe, per answer.
    """

    since: datetime | None
    until: datetime
    requests: dict[str, dict[str, int]]
    honour: HonourTimes
    open_exceptions: int
    overdue: list[ExceptionItem]
    violations: list[Violation]
    grace: timedelta
    notes: list[str] = field(default_factory=list)
    bounces: dict[str, int] = field(default_factory=dict)
    machine_mail_kept: int = 0
    feedback: dict[str, int] = field(default_factory=dict)
    #: Webhook deliveries waiting: (endpoint URL, ``pending`` or ``dead``) -> rows.
    webhooks: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        """All requests of the period."""
        return sum(sum(by_channel.values()) for by_channel in self.requests.values())


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def honour_times(delays: Iterable[timedelta]) -> HonourTimes:
    """Median, p95 and max of request-to-honour delays."""
    seconds = sorted(max(0.0, d.total_seconds()) for d in delays)
    if not seconds:
        return HonourTimes(count=0)
    middle = len(seconds) // 2
    median = seconds[middle] if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) / 2
    return HonourTimes(
        count=len(seconds),
        median=timedelta(seconds=median),
        p95=timedelta(seconds=percentile(seconds, 0.95)),
        max=timedelta(seconds=seconds[-1]),
    )


def build_report(
    center: PreferenceCenter,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Report:
    """Compute the report for ``since .. until`` from the center's store.

    Args:
        center: an open center.
        since: start of the period; None covers everything.
        until: end of the period; default ``now``.
        now: the current time (for overdue exceptions); default the wall clock.

    Raises:
        InvalidInput: ``since`` is not before ``until``.
    """
    now = now or datetime.now(UTC)
    until = until or now
    if since is not None and since >= until:
        raise InvalidInput(
            f"The period starts {since.isoformat()} and ends {until.isoformat()}; the "
            "start must come first (--since before --until, or now when --until is not given).",
            value=since,
            reason="empty period",
        )
    tally = tally_store(center, since, until)
    grace = center.settings.violation_grace
    # Only the period's sends are joined to the stops that block them (issue 26): the
    # old reading joined every contact of the ledger with every suppression.
    low = since or datetime(1, 1, 1, tzinfo=UTC)
    found = center.store.read(lambda session: session.violations_between(low, until + _MS, grace))
    violations = [as_violation(suppression, contact) for suppression, contact in found]
    violations.sort(key=lambda v: (v.sent_at, v.identity_hash, v.message_id or ""))
    open_items = center.exceptions(status="open")
    overdue = sorted((i for i in open_items if i.due_at < now), key=lambda i: i.due_at)
    return Report(
        since=since,
        until=until,
        requests=tally.requests,
        feedback=tally.feedback,
        honour=tally.honour,
        open_exceptions=len(open_items),
        overdue=overdue,
        violations=violations,
        grace=grace,
        bounces=tally.bounces,
        machine_mail_kept=_kept_mail(center),
        webhooks=center.webhook_outbox(),
    )


def _kept_mail(center: PreferenceCenter) -> int:
    """Machine-made mail kept for audit: one index range, not ``store.counts()`` (which
    counts whole tables: 9 of a 13-second report at ten million events)."""
    _, kept = center.store.read(
        lambda session: session.exception_page(
            status="audit", mailbox=None, due_before=None, limit=0, offset=0
        )
    )
    return kept


@dataclass(frozen=True, slots=True)
class Tally:
    """What the report counts in the audit log of its period.

    Attributes:
        requests: source -> channel -> number of requests (both sorted by name).
        honour: time-to-honour statistics over the period's opt-outs.
        bounces: bounce outcomes by action and reason, sorted by name.
        feedback: answers to the optional "why?", per answer, sorted by answer.
    """

    requests: dict[str, dict[str, int]]
    honour: HonourTimes
    bounces: dict[str, int]
    feedback: dict[str, int]


class _Counter:
    """Adds up the report's counts, one group of alike events at a time."""

    def __init__(self) -> None:
        self.requests: dict[str, dict[str, int]] = {}
        self.bounces: dict[str, int] = {}
        self.feedback: dict[str, int] = {}

    def add(
        self,
        action: Action,
        source: str,
        channel: str | None,
        detail: str,
        reason: str | None,
        count: int,
    ) -> None:
        if action is Action.FEEDBACK:
            self.feedback[detail] = self.feedback.get(detail, 0) + count
        outcome = bounce_outcome(action, detail, reason)
        if outcome is not None:
            self.bounces[outcome] = self.bounces.get(outcome, 0) + count
        if action in REQUEST_ACTIONS:
            by_channel = self.requests.setdefault(source, {})
            name = channel or "unknown"
            by_channel[name] = by_channel.get(name, 0) + count

    def tally(self, honour: HonourTimes) -> Tally:
        return Tally(
            requests={s: dict(sorted(c.items())) for s, c in sorted(self.requests.items())},
            honour=honour,
            bounces=dict(sorted(self.bounces.items())),
            feedback=dict(sorted(self.feedback.items())),
        )


def tally_events(events: Iterable[Event]) -> Tally:
    """The report's counts read event by event (the reference :func:`tally_store` keeps to)."""
    counter = _Counter()
    delays: list[timedelta] = []
    for event in events:
        channel = event.channel.value if event.channel is not None else None
        counter.add(event.action, event.source.value, channel, event.detail, event.reason, 1)
        if event.action in OPT_OUT_ACTIONS:
            delays.append(event.at - (event.requested_at or event.at))
    return counter.tally(honour_times(delays))


def tally_store(center: PreferenceCenter, since: datetime | None, until: datetime) -> Tally:
    """The report's counts for ``since <= at < until``, grouped by the database.

    Two statements over the period's range of the time index; their few rows are folded
    here by the same rules as :func:`tally_events`.
    """
    low = -(2**62) if since is None else to_ms(since)
    high = to_ms(until)
    opt_outs = sorted(action.value for action in OPT_OUT_ACTIONS)

    def read(session: Session) -> tuple[list[EventGroup], list[tuple[int, int]]]:
        return session.event_groups(low, high), session.delay_counts(low, high, opt_outs)

    groups, delays = center.store.read(read)
    counter = _Counter()
    for group in groups:
        counter.add(
            Action(group.action),
            group.source,
            group.channel,
            group.detail,
            group.reason,
            group.count,
        )
    return counter.tally(honour_counted(delays))


def honour_counted(delays_ms: Sequence[tuple[int, int]]) -> HonourTimes:
    """:func:`honour_times` from (delay in ms, how many) pairs sorted by delay."""
    total = sum(count for _, count in delays_ms)
    if not total:
        return HonourTimes(count=0)

    def nth(rank: int) -> float:
        """The ``rank``-th smallest delay (1-based), in seconds."""
        seen = 0
        for value, count in delays_ms:
            seen += count
            if seen >= rank:
                return value / 1000
        raise AssertionError("rank past the end")

    middle = total // 2
    median = nth(middle + 1) if total % 2 else (nth(middle) + nth(middle + 1)) / 2
    p95 = nth(max(1, math.ceil(0.95 * total)))
    return HonourTimes(
        count=total,
        median=timedelta(seconds=median),
        p95=timedelta(seconds=p95),
        max=timedelta(seconds=delays_ms[-1][0] / 1000),
    )


def bounce_outcome(action: Action, detail: str, reason: str | None) -> str | None:
    """``scored: mailbox-full``, ``evidence: policy``, ``hard: user-unknown``... or None."""
    reason = reason or ""
    if action is Action.SOFT_BOUNCE and detail:
        return f"scored: {detail}"
    if action is Action.BOUNCE:
        return f"evidence: {detail or 'unknown'}"
    if action is Action.SUPPRESS and reason.startswith("bounce score"):
        return "hard: score limit"
    if action is Action.SUPPRESS and reason.startswith("bounce:"):
        return f"hard: {reason.removeprefix('bounce:').split('(')[0].strip()}"
    return None


def as_violation(
    suppression: Suppression, contact: Contact, identity_hash: str | None = None
) -> Violation:
    """A send recorded after the suppression that blocks it, as the report shows it."""
    return Violation(
        identity_hash=contact.identity_hash if identity_hash is None else identity_hash,
        channel=contact.channel,
        topic=contact.topic,
        kind=contact.kind,
        sent_at=contact.at,
        sender=contact.sender,
        message_id=contact.message_id,
        opted_out_at=suppression.created_at,
        scope=suppression.scope,
        source=suppression.source,
        late_by=contact.at - suppression.created_at,
        address=suppression.address,
    )


def format_duration(value: timedelta | None) -> str:
    """``2d 3h``, ``4m 10s``, ``0s``: two units at most, for people; ``-`` when None."""
    if value is None:
        return "-"
    seconds = round(value.total_seconds())
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def format_report(report: Report) -> str:
    """The report as text for a terminal or a mail to the team."""
    start = "the beginning" if report.since is None else show_time(report.since)
    lines = [f"prefcenter report  {start} .. {show_time(report.until)}", ""]
    channels = sorted({c for by in report.requests.values() for c in by})
    lines.append(f"Requests by source and channel: {report.total_requests}")
    if report.requests:
        lines.append("  " + "source".ljust(12) + "".join(c.rjust(9) for c in channels))
        for source, by_channel in report.requests.items():
            counts = "".join(str(by_channel.get(c, 0)).rjust(9) for c in channels)
            lines.append("  " + source.ljust(12) + counts)
    if report.feedback:
        answers = ", ".join(f"{why} {count}" for why, count in report.feedback.items())
        lines.append(f"Why people unsubscribed (optional answers): {answers}")
    honour = report.honour
    lines += [
        "",
        f"Time to honour ({honour.count} opt-outs): median {format_duration(honour.median)}, "
        f"p95 {format_duration(honour.p95)}, max {format_duration(honour.max)}",
        "",
        f"Exceptions: {report.open_exceptions} open, {len(report.overdue)} overdue; "
        f"machine mail kept for audit: {report.machine_mail_kept}",
    ]
    if report.bounces:
        lines.append("Bounces: " + ", ".join(f"{k} {v}" for k, v in report.bounces.items()))
    for item in report.overdue:
        late = format_duration(report.until - item.due_at)
        lines.append(
            f"  #{item.id}  overdue by {late}  {item.mailbox}  {item.why}  {item.summary}".rstrip()
        )
    lines += [
        "",
        f"Violations (contacts after an opt-out, grace {format_duration(report.grace)}): "
        f"{len(report.violations)}",
    ]
    for v in report.violations:
        topic = f"topic={v.topic}" if v.topic else "all topics"
        lines.append(
            f"  {show_time(v.sent_at)}  sender={v.sender or '?'}  {v.channel.value}  {topic}  "
            f"{v.kind.value}  message={v.message_id or '-'}  {v.address or v.identity_hash[:10]}  "
            f"opted out {show_time(v.opted_out_at)}"
            + (f" via {v.source.value}" if v.source else "")
            + f", sent {format_duration(v.late_by)} after"
        )
    if report.webhooks:
        pending = sum(n for (_, state), n in report.webhooks.items() if state == "pending")
        dead = sum(n for (_, state), n in report.webhooks.items() if state == "dead")
        lines += ["", f"Webhooks: {pending} pending, {dead} dead-lettered"]
        for (url, state), count in sorted(report.webhooks.items()):
            lines.append(f"  {_endpoint_name(url)}  {state} {count}")
        if dead:
            lines.append(
                "  (`prefcenter webhooks retry` queues the dead-lettered ones again; "
                "`prefcenter webhooks discard URL --yes` deletes a removed endpoint's)"
            )
    lines.extend(report.notes)
    return "\n".join(lines)


def _endpoint_name(url: str) -> str:
    """An endpoint URL without its query (which may carry a token)."""
    return url.split("?", 1)[0]


def report_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (the ``--json`` shape, documented in docs/cli.md)."""

    def seconds(value: timedelta | None) -> float | None:
        return None if value is None else value.total_seconds()

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "since": iso(report.since),
        "until": iso(report.until),
        "requests": {"total": report.total_requests, "by_source": report.requests},
        "feedback": report.feedback,
        "time_to_honour": {
            "count": report.honour.count,
            "median_seconds": seconds(report.honour.median),
            "p95_seconds": seconds(report.honour.p95),
            "max_seconds": seconds(report.honour.max),
        },
        "bounces": report.bounces,
        "machine_mail_kept": report.machine_mail_kept,
        "exceptions": {
            "open": report.open_exceptions,
            "overdue": [
                {
                    "id": item.id,
                    "received_at": iso(item.received_at),
                    "due_at": iso(item.due_at),
                    "mailbox": item.mailbox,
                    "why": item.why,
                    "summary": item.summary,
                }
                for item in report.overdue
            ],
        },
        "violations": {
            "grace_seconds": report.grace.total_seconds(),
            "count": len(report.violations),
            "items": [
                {
                    "identity_hash": v.identity_hash,
                    "address": v.address,
                    "channel": v.channel.value,
                    "topic": v.topic,
                    "kind": v.kind.value,
                    "sent_at": iso(v.sent_at),
                    "sender": v.sender,
                    "message_id": v.message_id,
                    "opted_out_at": iso(v.opted_out_at),
                    "scope": v.scope.value if v.scope else None,
                    "source": v.source.value if v.source else None,
                    "late_by_seconds": v.late_by.total_seconds(),
                }
                for v in report.violations
            ],
        },
        "webhooks": [
            {"endpoint": _endpoint_name(url), "state": state, "count": count}
            for (url, state), count in sorted(report.webhooks.items())
        ],
    }
