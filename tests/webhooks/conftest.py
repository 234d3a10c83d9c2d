"""Fixtures for the outgoing webhooks: a store on SQLite and PostgreSQL, a real receiver."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webhooks.receiver import Receiver

#: A fixed test secret in the Standard Webhooks form.
SECRET = "whsec_" + base64.b64encode(b"prefcenter-webhook-test-key-0123").decode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A listening receiver that verifies with the ``standardwebhooks`` package."""
    hook = Receiver(SECRET)
    yield hook
    hook.down()
