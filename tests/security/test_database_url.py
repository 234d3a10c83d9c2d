"""Issue 20 item 13: a database URL's user-info is masked whole, whatever it holds.

An unencoded ``@`` in a password made the old mask stop at the first ``@``
(``***@Word@host``), and libpq then quoted the rest back as a host name. The real CLI
is run against a PostgreSQL URL that cannot connect; neither its output nor its error
may hold any piece of the password.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from prefcenter.store.postgres import redact
from tests.conftest import TEST_PEPPER, TEST_SECRET

URLS = [
    ("postgresql://prefs:Sesame@Word42@127.0.0.1:1/prefs", ("Sesame", "Word42")),
    ("postgresql://prefs:Open:Sesame99@127.0.0.1:1/prefs", ("Open", "Sesame99")),
    ("postgresql://prefs:pa%40ss123@127.0.0.1:1/prefs", ("pa%40ss123",)),
    ("postgresql://prefs@127.0.0.1:1/prefs?password=Sesame77", ("Sesame77",)),
]


@pytest.mark.parametrize(("url", "secrets"), URLS)
def test_cli_never_shows_any_piece_of_the_password(url: str, secrets: tuple[str, ...]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update(
        PREFCENTER_DATABASE=url, PREFCENTER_SECRET=TEST_SECRET, PREFCENTER_PEPPER=TEST_PEPPER
    )
    result = subprocess.run(
        [sys.executable, "-m", "prefcenter", "check", "someone@example.org"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert "127.0.0.1:1/prefs" in shown  # the URL is named, so the fix is findable
    for secret in secrets:
        assert secret not in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@ss@Word@db.example/prefs", "postgresql://***@db.example/prefs"),
        (
            "postgresql://u:pw@db:5432/p?password=x&a=b",
            "postgresql://***@db:5432/p?password=***&a=b",
        ),
        ("postgresql://db.example/prefs", "postgresql://db.example/prefs"),
        ("postgresql://u:a/b@db/prefs", "postgresql://***@db/prefs"),
    ],
)
def test_redact_masks_the_whole_user_info(url: str, shown: str) -> None:
    assert redact(url) == shown
