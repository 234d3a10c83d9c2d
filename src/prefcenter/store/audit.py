"""The compliance report's sums over the audit log, counted by the database.

``prefcenter report`` used to read every event of its period into Python (about 80 µs
an event: a month of a 100-million-event log took minutes). These two statements walk the
period's range of the ``events_at`` index once each and hand back a few grouped rows:
what the report shows is folded from them in :mod:`prefcenter.report.compliance`, by the
same rules as the event-by-event reading it replaces (a test compares the two).
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prefcenter.store.rows import Statements

#: Actions whose ``detail`` or ``reason`` the report reads (feedback answers, bounces).
_DETAILED = "('feedback', 'soft-bounce', 'bounce')"


@dataclass(frozen=True, slots=True)
class EventGroup:
    """``count`` audit events that agree on everything the report reads of them.

    Attributes:
        action: the action's value (``suppress``, ``feedback`` ...).
        source: the source's value.
        channel: the channel's value, or None when the event has none.
        detail: the event's ``detail`` for feedback and bounce events; empty otherwise.
        reason: for a ``suppress`` made by bounces, the start of its reason (``bounce:
            user-unknown``, ``bounce score``); None otherwise.
        count: how many events.
    """

    action: str
    source: str
    channel: str | None
    detail: str
    reason: str | None
    count: int


class AuditRows(Statements):
    """The report's two grouped reads; part of the session."""

    def event_groups(self, since_ms: int, until_ms: int) -> list[EventGroup]:
        """Events with ``since_ms <= at < until_ms`` grouped by what the report reads."""
        if self.dialect.name == "sqlite":
            head = "rtrim(substr(reason, 1, instr(reason || '(', '(') - 1))"
        else:
            head = "rtrim(split_part(reason, '(', 1))"
        reason = (
            "CASE WHEN action <> 'suppress' THEN NULL "
            "WHEN substr(reason, 1, 12) = 'bounce score' THEN 'bounce score' "
            f"WHEN substr(reason, 1, 7) = 'bounce:' THEN {head} END"
        )
        detail = f"CASE WHEN action IN {_DETAILED} THEN detail ELSE '' END"
        rows = self._rows(
            f"SELECT action, source, channel, {detail}, {reason}, COUNT(*) FROM events "
            "WHERE at >= ? AND at < ? GROUP BY 1, 2, 3, 4, 5",
            [since_ms, until_ms],
        )
        return [
            EventGroup(
                action=str(row[0]),
                source=str(row[1]),
                channel=str(row[2]) if row[2] else None,
                detail=str(row[3] or ""),
                reason=None if row[4] is None else str(row[4]),
                count=int(row[5]),
            )
            for row in rows
        ]

    def delay_counts(
        self, since_ms: int, until_ms: int, actions: Sequence[str]
    ) -> list[tuple[int, int]]:
        """(delay in ms, events) for events of ``actions`` in the period, shortest first.

        The delay runs from ``requested_at`` to ``at`` (0 when the event has no
        ``requested_at``, or asked for a moment after it was committed). Most opt-outs
        are honoured at once, so there are far fewer rows than events.
        """
        delay = (
            "CASE WHEN requested_at IS NULL OR requested_at > at THEN 0 ELSE at - requested_at END"
        )
        marks = ", ".join("?" for _ in actions)
        rows = self._rows(
            f"SELECT {delay}, COUNT(*) FROM events WHERE at >= ? AND at < ? "
            f"AND action IN ({marks}) GROUP BY 1 ORDER BY 1",
            [since_ms, until_ms, *actions],
        )
        return [(int(row[0]), int(row[1])) for row in rows]


__all__ = ["AuditRows", "EventGroup"]
