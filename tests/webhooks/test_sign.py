"""The signer against the ``standardwebhooks`` reference package, for any id, time and body."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from prefcenter.errors import ConfigError
from prefcenter.webhooks.sign import Signer
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
