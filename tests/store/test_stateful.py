"""A plain-Python model of the contact rules, and hypothesis driving both backends against it.

The model states the rules in their simplest form — person-wide opt-outs as entries that
cover a whole linked component, evidence as a set of seen requests — and every step
checks that the store answers every (identity, topic, kind) question the same way and
that every change reports "changed" exactly when the model changed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from prefcenter.center import PreferenceCenter
from prefcenter.model import Reason, Source
from tests.store.conftest import START, Clock

TOPICS = [None, "news", "offers"]
EVIDENCE = st.sampled_from([None, "e1", "e2"])
SLOTS = st.integers(0, 3)
CAP, WINDOW = 3, timedelta(days=7)
_namespaces = itertools.count()


@dataclass
class Model:
    """The rules, stated plainly. Keys are (channel, address) pairs."""

    own: set[tuple[object, str, str | None]] = field(default_factory=set)
    wide: set[tuple[object, str, str | None]] = field(default_factory=set)
    parent: dict[object, object] = field(default_factory=dict)
    topics: dict[tuple[object, str], bool] = field(default_factory=dict)
    frequency: dict[object, int] = field(default_factory=dict)
    paused: dict[object, datetime] = field(default_factory=dict)
    contacts: dict[object, list[datetime]] = field(default_factory=dict)
    requests: set[tuple[object, ...]] = field(default_factory=set)

    def root(self, who: object) -> object:
        while self.parent.get(who, who) != who:
            who = self.parent[who]
        return who

    def component(self, who: object) -> set[object]:
        root = self.root(who)
        return {p for p in {who, *self.parent} if self.root(p) == root}

    def once(self, *key: object) -> bool:
        """False when this request (with its evidence) was already applied."""
        if key[-1] is None:
            return True
        if key in self.requests:
            return False
        self.requests.add(key)
        return True

    def blocks(self, who: object, scope: str, topic: str | None) -> bool:
        if (who, scope, topic) in self.own:
            return True
        return any((o, scope, topic) in self.wide for o in self.component(who))

    def lift(self, who: object, scope: str, topic: str | None) -> bool:
        gone = {(o, scope, topic) for o in self.component(who)} & self.wide
        own = {(who, scope, topic)} & self.own
        self.wide -= gone
        self.own -= own
        return bool(gone or own)

    def reason(self, who: object, topic: str | None, kind: str, now: datetime) -> Reason:
        if self.blocks(who, "hard", None):
            return Reason.HARD_SUPPRESSED
        if kind == "transactional":
            return Reason.ALLOWED
        if self.blocks(who, "global", None):
            return Reason.UNSUBSCRIBED_GLOBAL
        if topic is not None and (
            self.blocks(who, "topic", topic) or self.topics.get((who, topic)) is False
        ):
            return Reason.UNSUBSCRIBED_TOPIC
        if who in self.paused and now < self.paused[who]:
            return Reason.PAUSED
        sent = [at for at in self.contacts.get(who, []) if at <= now]
        days = self.frequency.get(who)
        if days is not None and sent and now < max(sent) + timedelta(days=days):
            return Reason.FREQUENCY_CEILING
        if len([at for at in sent if at > now - WINDOW]) >= CAP:
            return Reason.FREQUENCY_CAP
        return Reason.ALLOWED


def machine_for(center: PreferenceCenter, clock: Clock) -> type[RuleBasedStateMachine]:
    class StoreAgreesWithModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            ns = f"n{next(_namespaces)}x"
            self.people: list[tuple[str, str]] = [
                ("email", f"{ns}{letter}@example.com") for letter in "abc"
            ] + [("sms", f"+1415555{next(_namespaces) % 10000:04d}")]
            self.model = Model()
            clock.now = START

        def _who(self, slot: int) -> tuple[str, str]:
            return self.people[slot]

        @rule(
            slot=SLOTS,
            scope=st.sampled_from(["hard", "global", "topic"]),
            topic=st.sampled_from(["news", "offers"]),
            wide=st.booleans(),
            evidence=EVIDENCE,
        )
        def suppress(
            self, slot: int, scope: str, topic: str, wide: bool, evidence: str | None
        ) -> None:
            channel, address = who = self._who(slot)
            name = topic if scope == "topic" else None
            changed = center.suppress(
                address,
                channel=channel,
                topic=name,
                hard=scope == "hard",
                all_channels=wide,
                source=Source.API,
                evidence=evidence,
            )
            expected = False
            detail = "all-channels" if wide else ""
            if self.model.once(who, "suppress", scope, name, detail, evidence):
                if wide:
                    component = self.model.component(who)
                    expected = not any((o, scope, name) in self.model.wide for o in component)
                    self.model.wide.add((who, scope, name))
                else:
                    expected = (who, scope, name) not in self.model.own
                    self.model.own.add((who, scope, name))
            assert changed == expected

        @rule(slot=SLOTS, topic=st.sampled_from(TOPICS), hard=st.booleans(), evidence=EVIDENCE)
        def resubscribe(
            self, slot: int, topic: str | None, hard: bool, evidence: str | None
        ) -> None:
            channel, address = who = self._who(slot)
            name = None if hard else topic
            scope = "hard" if hard else "topic" if name else "global"
            changed = center.resubscribe(
                address,
                channel=channel,
                topic=name,
                hard=hard,
                reason="model",
                source=Source.CLI,
                evidence=evidence,
            )
            # A resubscribe that lifts nothing writes nothing, so its evidence is not
            # kept either: the same request later, once something blocks, is applied.
            key = (who, "resubscribe", scope, name, "", evidence)
            expected = False
            if evidence is None or key not in self.model.requests:
                expected = self.model.lift(who, scope, name)
                if name is not None and self.model.topics.get((who, name)) is False:
                    self.model.topics[(who, name)] = True
                    expected = True
                if expected and evidence is not None:
                    self.model.requests.add(key)
            assert changed == expected

        @rule(
            slot=SLOTS,
            topic=st.sampled_from(["news", "offers"]),
            subscribed=st.booleans(),
            evidence=EVIDENCE,
        )
        def set_topic(self, slot: int, topic: str, subscribed: bool, evidence: str | None) -> None:
            channel, address = who = self._who(slot)
            changed = center.set_topic(
                address, topic, subscribed, channel=channel, source=Source.WEB, evidence=evidence
            )
            expected = False
            action = "opt-in" if subscribed else "opt-out"
            if self.model.once(who, action, "topic", topic, "", evidence):
                expected = self.model.topics.get((who, topic)) != subscribed
                self.model.topics[(who, topic)] = subscribed
                if subscribed:
                    expected = self.model.lift(who, "topic", topic) or expected
            assert changed == expected

        @rule(slot=SLOTS, days=st.one_of(st.none(), st.integers(1, 10)))
        def pause_or_resume(self, slot: int, days: int | None) -> None:
            channel, address = who = self._who(slot)
            if days is None:
                changed = center.resume(address, channel=channel, source=Source.WEB)
                expected = who in self.model.paused
                self.model.paused.pop(who, None)
            else:
                until = clock.now + timedelta(days=days)
                changed = center.pause(address, until, channel=channel, source=Source.WEB)
                expected = self.model.paused.get(who) != until
                self.model.paused[who] = until
            assert changed == expected

        @rule(slot=SLOTS, days=st.one_of(st.none(), st.integers(1, 5)))
        def set_frequency(self, slot: int, days: int | None) -> None:
            channel, address = who = self._who(slot)
            changed = center.set_frequency(address, days, channel=channel, source=Source.WEB)
            assert changed == (self.model.frequency.get(who) != days)
            if days is None:
                self.model.frequency.pop(who, None)
            else:
                self.model.frequency[who] = days

        @rule(slot=SLOTS, kind=st.sampled_from(["marketing", "transactional"]))
        def record_sent(self, slot: int, kind: str) -> None:
            channel, address = who = self._who(slot)
            center.record_sent(address, channel=channel, kind=kind)
            if kind == "marketing":
                self.model.contacts.setdefault(who, []).append(clock.now)

        @rule(first=SLOTS, second=SLOTS, evidence=EVIDENCE)
        def link(self, first: int, second: int, evidence: str | None) -> None:
            one, two = self._who(first), self._who(second)
            changed = center.link(
                one[1],
                two[1],
                first_channel=one[0],
                second_channel=two[0],
                source=Source.API,
                evidence=evidence,
            )
            expected = False
            if self.model.once(one, "link", "", None, two, evidence):
                self.model.once(two, "link", "", None, one, evidence)
                expected = self.model.root(one) != self.model.root(two)
                self.model.parent.setdefault(one, one)
                self.model.parent.setdefault(two, two)
                self.model.parent[self.model.root(two)] = self.model.root(one)
            assert changed == expected

        @rule(hours=st.sampled_from([1, 12, 30, 24 * 4]))
        def advance(self, hours: int) -> None:
            clock.advance(hours=hours)

        @invariant()
        def every_answer_agrees(self) -> None:
            for who in self.people:
                channel, address = who
                for topic in TOPICS:
                    for kind in ("marketing", "transactional"):
                        got = center.check(address, topic, channel=channel, kind=kind).reason
                        assert got is self.model.reason(who, topic, kind, clock.now), (
                            who,
                            topic,
                            kind,
                        )
            emails = [address for channel, address in self.people if channel == "email"]
            refused = {r.recipient: r.reason for r in center.filter(emails, "news").refused}
            for address in emails:
                expected = self.model.reason(("email", address), "news", "marketing", clock.now)
                assert refused.get(address, Reason.ALLOWED) is expected
            # The same list screened from the in-memory index (a large expected length
            # makes the screen read it at once) must answer the same.
            for kind in ("marketing", "transactional"):
                with center.screen("news", kind=kind, expected_rows=10**9) as screen:
                    indexed = dict(zip(emails, screen(emails), strict=True))
                    assert screen.indexed
                for address in emails:
                    expected = self.model.reason(("email", address), "news", kind, clock.now)
                    assert (indexed[address] or Reason.ALLOWED) is expected, (address, kind)

    return StoreAgreesWithModel


def test_store_agrees_with_the_model(center: PreferenceCenter, clock: Clock, database: str) -> None:
    # PostgreSQL answers over a socket, so it gets fewer (but the same kind of) examples.
    examples, steps = (40, 25) if database.startswith("sqlite") else (15, 20)
    run_state_machine_as_test(
        machine_for(center, clock),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
