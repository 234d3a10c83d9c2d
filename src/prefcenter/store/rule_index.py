"""The campaign index: a filter's in-memory copy of who is blocked and who has rules.

Asking the store about each person costs a B-tree walk per person (about 2 µs on
SQLite, more over a network), and a campaign list is often larger than the store. So
once a list has shown itself to be large next to the store, the filter reads, in one
pass, every identity that a suppression blocks for this send (with the reason), every one
the store-wide frequency cap refuses and that has no other rule, and every identity that
has other rules (preferences, topic choices), and then decides most people by a
dictionary lookup. The few with other rules still get them from the store, chunk by
chunk.

The index is the store as it was when it was read. A suppression recorded while a long
filter runs does not reach the rows decided from the index; asking per person has the
same race at a finer grain. Filter close to the send, and ``check`` at send time.
"""

# SQL is assembled only from constants in this package; values always go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime, timedelta

from prefcenter.model import Reason
from prefcenter.store.codes import to_ms, topic_key
from prefcenter.store.rows import Present, Statements

#: Block codes (``blocks_sql``) as the reasons the policy gives for them.
BLOCK_REASONS = (Reason.HARD_SUPPRESSED, Reason.UNSUBSCRIBED_GLOBAL, Reason.UNSUBSCRIBED_TOPIC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """Who this send may not reach because of a suppression, and who needs full rules.

    Attributes:
        blocked: identity hash -> the reason a suppression (or the frequency cap, for
            people with no other rule) refuses it.
        ruled: identity hashes with a preference or topic choice (marketing sends only).
    """

    blocked: dict[bytes, Reason]
    ruled: frozenset[bytes]


class IndexRows(Statements):
    """The whole-table reads behind :class:`RuleIndex`; part of the session."""

    def rule_rows(self, present: Present, *, with_cap: bool, limit: int | None = None) -> int:
        """How many rows the index would be read from (what it costs, and its size);
        each table counted up to ``limit`` rows at most, when given: a store larger than
        the index may hold is not read through just to be counted."""
        tables = ["suppressions"]
        tables += [name for name, used in zip(_OPTIONAL, present, strict=True) if used]
        if not with_cap and "contacts" in tables:
            tables.remove("contacts")
        if limit is None:
            counted = " + ".join(f"(SELECT count(*) FROM {table})" for table in tables)
            return int(self._one(f"SELECT {counted}")[0])
        counted = " + ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT ?) AS rows)" for table in tables
        )
        return int(self._one(f"SELECT {counted}", [limit] * len(tables))[0])

    def rule_index(
        self,
        present: Present,
        *,
        topic: bytes,
        marketing: bool,
        at: datetime,
        cap_window: timedelta | None,
        cap_count: int | None = None,
    ) -> RuleIndex:
        """Every identity a suppression (or the cap) refuses for this send, and every one
        whose answer needs full rules."""
        # Transactional mail is refused by hard suppressions alone (see policy.py).
        ruled: frozenset[bytes] = frozenset()
        branches = [
            f"SELECT hash FROM {table}"
            for table, used in (
                ("preferences", present.preferences),
                ("topic_prefs", present.topic_prefs),
            )
            if used and marketing
        ]
        if branches:
            ruled = frozenset(map(_first, self.conn.execute(" UNION ".join(branches))))
        blocked: dict[bytes, Reason] = {}
        if marketing and cap_window is not None and cap_count is not None and present.contacts:
            # The cap comes last in the policy: people with other rules get it from the
            # store; suppressions, written over it below, come first.
            at_ms = to_ms(at)
            rows = self.conn.execute(
                self.dialect.sql(
                    "SELECT hash FROM contacts WHERE kind = 0 AND at > ? AND at <= ? "
                    "GROUP BY hash HAVING count(*) >= ?"
                ),
                [at_ms - cap_window // _MS, at_ms, cap_count],
            )
            capped = set(map(_first, rows)).difference(ruled)
            blocked = dict.fromkeys(capped, Reason.FREQUENCY_CAP)
        # One plain scan per code, weakest first so that the strongest wins (as min(code)
        # in ``blocks_sql``); about twice as fast as grouping the rows by hash. A send
        # about no topic cannot meet a topic suppression: no scan for those.
        codes = ((2, 1, 0) if topic_key(topic) else (1, 0)) if marketing else (0,)
        for code in codes:
            sql, with_topic = _blocked_by(code, links=present.links)
            rows = self.conn.execute(self.dialect.sql(sql), [topic_key(topic)] * with_topic)
            # Streamed into the dict: no list of a million rows on the way.
            blocked.update(dict.fromkeys(map(_first, rows), BLOCK_REASONS[code]))
        return RuleIndex(blocked, ruled)


def _blocked_by(code: int, *, links: bool) -> tuple[str, int]:
    """Hashes a suppression blocks with ``code`` (see ``BLOCK_REASONS``), directly or
    through a person-wide suppression on their group; and how many topic parameters."""
    scope = ("s.scope = 0", "s.scope = 1", "s.scope = 2 AND s.topic = ?")[code]
    sql = f"SELECT s.hash FROM suppressions s WHERE {scope}"
    if not links:
        return sql, int(code == 2)
    sql += (
        f" UNION SELECT l.hash FROM links l JOIN suppressions s ON s.hash = l.group_id "
        f"WHERE {scope} AND s.all_channels = 1 AND l.group_id <> l.hash"
    )
    return sql, 2 * int(code == 2)


_first = operator.itemgetter(0)

#: The optional rule tables, in ``Present`` order.
_OPTIONAL = ("links", "preferences", "topic_prefs", "contacts")
