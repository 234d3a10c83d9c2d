"""How forget erases an address from the exceptions queue, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.changes.review import KEEP_BYTES
from prefcenter.errors import QueueFull
from prefcenter.model import Action, Source
from prefcenter.store.exceptions import ERASED, _addresses

CLI = Source.CLI


def _mail(sender: str, body: str = "stop") -> bytes:
    return f"From: <{sender}>\r\nSubject: unsubscribe\r\n\r\n{body}\r\n".encode()


def test_forget_scrubs_every_item_naming_the_address(center: PreferenceCenter) -> None:
    center.suppress("Alice+News@Example.com", source=CLI, evidence="s-1")
    shouted = center.open_exception(
        mailbox="unsubscribe",
        why="unproven",
        raw=_mail("ALICE+NEWS@EXAMPLE.COM"),
        summary="plain stop from Alice+News@example.com",
        evidence="<a@x>",
    )
    canonical = center.open_exception(
        mailbox="bounces", why="unparsed", raw=_mail("x@y.org", "for alice@example.com"),
        evidence="<b@x>",
    )  # fmt: skip
    other = center.open_exception(
        mailbox="unsubscribe", why="unproven", raw=_mail("bob@example.com"), evidence="<c@x>"
    )
    center.resolve_exception(
        canonical.id, dismiss=True, reason="alice@example.com asked by phone", source=CLI
    )
    assert center.forget("Alice+News@Example.com", source=CLI, evidence="gdpr-1")
    items = {item.id: item for item in center.exceptions(status=None)}
    assert set(items) == {shouted.id, canonical.id, other.id}  # items stay
    for item_id in (shouted.id, canonical.id):
        item = items[item_id]
        assert b"alice" not in item.raw.lower()
        assert b"X-Prefcenter-Erased: " in item.raw
        assert "alice" not in item.summary.lower()
        assert "alice" not in (item.resolution or "").lower()
    assert items[shouted.id].summary == ERASED  # a summary quotes the mail: erased whole
    assert items[shouted.id].status == "open"
    assert items[canonical.id].resolution == f"{ERASED} asked by phone"
    assert items[other.id].raw == _mail("bob@example.com")  # untouched
    actions = [event.action for event in center.store.events()]
    assert actions.count(Action.EXCEPTION_OPENED) == 3  # the audit events stay


def test_a_second_forget_scrubs_mail_that_arrived_after_the_first(
    center: PreferenceCenter,
) -> None:
    assert center.forget("alice@example.com", source=CLI, evidence="gdpr-1")
    late = center.open_exception(
        mailbox="unsubscribe", why="unproven", raw=_mail("alice@example.com"), evidence="<l@x>"
    )
    assert not center.forget("alice@example.com", source=CLI, evidence="gdpr-1")  # replay
    assert center.exception(late.id).raw == _mail("alice@example.com")
    assert center.forget("alice@example.com", source=CLI, evidence="gdpr-2")
    assert b"alice" not in center.exception(late.id).raw
    assert not center.forget("alice@example.com", source=CLI, evidence="gdpr-3")  # nothing left


@given(
    locals_=st.lists(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,20}", fullmatch=True), min_size=1
    ),
    domain=st.from_regex(r"[a-z0-9]{1,10}\.[a-z]{2,6}", fullmatch=True),
    separator=st.sampled_from([" ", "\r\n", ", ", " <", ">\r\n"]),
)
def test_every_address_in_mail_is_found(locals_: list[str], domain: str, separator: str) -> None:
    addresses = [f"{local}@{domain}" for local in locals_]
    text = "To:" + separator + separator.join(addresses) + separator
    assert _addresses(text) == set(addresses)


@pytest.mark.timeout(20)  # a guard against quadratic scanning, not a benchmark
def test_a_crafted_line_is_scanned_in_linear_time() -> None:
    assert _addresses("a" * 1_000_000 + "@x") == set()
    assert _addresses("@" * 1_000_000) == set()
    assert _addresses("a@" * 500_000 + "b.org") == {"a@b.org"}


def test_addresses_after_a_separator_are_found_too() -> None:
    text = "Authentication-Results: mx; smtp.mailfrom=Alice.Smith+news@gmail.com\r\n"
    text += "https://x.example/u?email=bob@example.org&x=1"
    found = _addresses(text)
    assert {"Alice.Smith+news@gmail.com", "bob@example.org"} <= found
    assert "smtp.mailfrom=Alice.Smith+news@gmail.com" in found  # the whole run, as well


def test_open_bytes_budget_and_write_probe_on_both_backends(
    open_center: Callable[..., PreferenceCenter],
) -> None:
    """Issue 20: what the queue's budget counts, and the readiness probe, on each backend."""
    center = open_center(exception_budget="400000")
    center.ready()  # a write commits
    big = b"Subject: x\r\n\r\n" + b"y" * (4 * KEEP_BYTES)
    item = center.open_exception(mailbox="postmaster", why="w", raw=big, evidence="e1")
    assert len(item.raw) < len(big) and b"X-Prefcenter-Truncated" in item.raw
    with center.store.session() as session:
        assert session.open_exception_bytes() == len(item.raw)
    budget = center.settings.exception_budget
    many = budget // len(item.raw) + 1
    refused = []
    for n in range(many):
        try:
            center.open_exception(mailbox="postmaster", why="w", raw=big, evidence=f"e{n + 2}")
        except QueueFull as error:
            refused.append(error)
    assert refused and refused[0].budget == budget
    with center.store.session() as session:
        assert session.open_exception_bytes() <= budget
