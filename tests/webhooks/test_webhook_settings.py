"""The change webhooks' settings: a bad one is refused at load, naming the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefcenter.errors import ConfigError
from tests.conftest import make_settings
from tests.webhooks.conftest import SECRET

URL = "https://crm.example.com/hooks/prefcenter"


@pytest.mark.parametrize(
    ("overrides", "name", "message"),
    [
        (
            {"events_webhook_url": "ftp://crm.example.com/x", "events_webhook_secret": SECRET},
            "events_webhook_url",
            "Setting EVENTS_WEBHOOK_URL has an entry 'ftp://crm.example.com/x'; write absolute "
            "http(s) URLs separated by commas, e.g. https://crm.example.com/hooks/prefcenter.",
        ),
        (
            {"events_webhook_url": URL},
            "events_webhook_secret",
            "Setting EVENTS_WEBHOOK_URL is set but EVENTS_WEBHOOK_SECRET is not; set it to "
            "whsec_ and the base64 of 32 random bytes (the receiver verifies with it).",
        ),
        (
            {"events_webhook_url": URL, "events_webhook_secret": SECRET, "events_webhook_batch": 0},
            "events_webhook_batch",
            "Setting EVENTS_WEBHOOK_BATCH has value 0; write a number of changes per delivery "
            "from 1 (each change alone) to 1000.",
        ),
        (
            {
                "events_webhook_url": URL,
                "events_webhook_secret": SECRET,
                "events_webhook_batch": 1001,
            },
            "events_webhook_batch",
            "Setting EVENTS_WEBHOOK_BATCH has value 1001; write a number of changes per "
            "delivery from 1 (each change alone) to 1000.",
        ),
    ],
)
def test_a_bad_webhook_setting_is_refused_with_the_fix(
    tmp_path: Path, overrides: dict[str, object], name: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(tmp_path, **overrides)
    assert raised.value.name == name
    assert str(raised.value) == message


@pytest.mark.parametrize("batch", [1, 100, 1000])
def test_a_batch_size_from_1_to_1000_is_taken(tmp_path: Path, batch: int) -> None:
    settings = make_settings(
        tmp_path, events_webhook_url=URL, events_webhook_secret=SECRET, events_webhook_batch=batch
    )
    assert settings.events_webhook_batch == batch
