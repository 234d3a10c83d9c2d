"""The signer against the ``standardwebhooks`` reference package, for any id, time and body,
and whole deliveries (one change or a batch) verified by it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prefcenter.errors import ConfigError
from prefcenter.store.feed import OutboxRow
from prefcenter.webhooks.sign import Signer
from prefcenter.webhooks.worker import message_of
from tests.webhooks.conftest import SECRET

IDS = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@given(IDS, st.integers(0, 2**33), st.binary(max_size=2000))
def test_signatures_match_the_reference_package(message_id: str, when: int, body: bytes) -> None:
    ours = Signer(SECRET).signature(message_id, when, body)
    theirs = Webhook(SECRET).sign(message_id, datetime.fromtimestamp(when, UTC), body)
    assert ours == theirs


@given(st.binary(min_size=1, max_size=500), st.integers(0, 499))
def test_the_reference_package_rejects_a_changed_body(body: bytes, where: int) -> None:
    now = int(datetime.now(UTC).timestamp())
    headers = Signer(SECRET).headers("evt_1", now, body)
    changed = bytearray(body)
    changed[where % len(body)] ^= 1
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(bytes(changed), headers)


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "whsec_",
        "secret-without-prefix",
        "whsec_!!!!",
        "whsec_" + base64.b64encode(b"short").decode(),
    ],
)
def test_an_unusable_secret_is_refused(secret: str) -> None:
    with pytest.raises(ConfigError, match="whsec_"):
        Signer(secret)


CHANGES = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 2**40).map(str),
            "kind": st.sampled_from(["suppress", "opt-out", "forget", "resubscribe"]),
            "reason": st.text(max_size=40),
            "address": st.none() | st.emails(),
        }
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda change: change["id"],
)


@given(CHANGES, st.booleans())
def test_a_delivery_verifies_with_the_reference_package_and_carries_every_change(
    changes: list[dict[str, object]], batch: bool
) -> None:
    if not batch:
        changes = changes[:1]
    rows = [
        OutboxRow(n, 0, 0, int(str(c["id"])), b"h" * 16, 1_700_000_000_123 + n, str(c["kind"]),
                  json.dumps(c, ensure_ascii=False), b"h" * 16)
        for n, c in enumerate(changes)
    ]  # fmt: skip
    message_id, body = message_of(rows, batch=batch)
    now = int(datetime.now(UTC).timestamp())
    message = Webhook(SECRET).verify(body, Signer(SECRET).headers(message_id, now, body))
    if batch:
        assert message["type"] == "prefcenter.changes"
        assert message["data"]["events"] == changes
    else:
        assert message["type"] == f"prefcenter.{changes[0]['kind']}"
        assert message["data"] == changes[0]
    assert message["timestamp"].endswith(f".{rows[-1].at_ms % 1000:03d}Z")
    again, _ = message_of(rows, batch=batch)
    assert again == message_id  # the same changes sent again: the same webhook-id
    if len(rows) == 1:
        assert message_id == f"evt_{changes[0]['id']}"
    else:
        assert message_id.startswith("batch_")
