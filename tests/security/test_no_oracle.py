"""Issue 20 item 4: no reply tells an outsider who is on the list.

The SMTP sidecar's reply to a bounce, a complaint, a plain request or a note to
postmaster named ``(soft-bounce)``, ``(exception)`` or ``(unchanged)``, so anyone could
learn whether an address was mailed or had opted out. Each mailbox is sent the same
message about three people (mailed, never mailed, already suppressed) over real SMTP;
every reply reads the same. The HTTP sidecar's pages and the API's unauthenticated
answers are compared the same way while someone else's opt-out changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefcenter.model import Source
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.smtp_fixtures import DOMAIN, RunningSidecar, running, sample

MAILED = "mailed@example.org"
NEVER = "never@example.org"
STOPPED = "stopped@example.org"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RunningSidecar]:
    with running(tmp_path, mail_domain=DOMAIN) as server:
        server.center.record_sent(MAILED)
        server.center.record_sent(STOPPED)
        server.center.suppress(STOPPED, hard=True, reason="seed", source=Source.CLI)
        yield server


def _plain(person: str) -> bytes:
    return (
        f"From: <{person}>\r\nTo: unsubscribe@{DOMAIN}\r\nSubject: unsubscribe\r\n"
        f"Message-ID: <plain-{person}>\r\n\r\nPlease stop.\r\n"
    ).encode()


def _note(person: str) -> bytes:
    return (
        f"From: <{person}>\r\nSubject: hello\r\nMessage-ID: <pm-{person}>\r\n\r\nHi.\r\n".encode()
    )


@pytest.mark.parametrize(
    ("mailbox", "message"),
    [
        ("bounces", lambda center, who: sample(center, "dsn_hard_postfix.eml", RCPT=who)),
        ("bounces", lambda center, who: sample(center, "dsn_soft_mailbox_full.eml", RCPT=who)),
        ("fbl", lambda center, who: sample(center, "arf_standard.eml", BYSTANDER=who, RCPT=who)),
        ("unsubscribe", lambda center, who: _plain(who)),
        ("postmaster", lambda center, who: _note(who)),
    ],
)
def test_every_smtp_reply_reads_the_same_whatever_the_store_knows(
    smtp: RunningSidecar, mailbox: str, message: object
) -> None:
    replies = set()
    for person in (MAILED, NEVER, STOPPED):
        raw = message(smtp.center, person)  # type: ignore[operator]
        mail_from = "" if mailbox in ("bounces", "fbl") else "someone@example.net"
        replies.add(smtp.send(raw, [f"{mailbox}@{DOMAIN}"], mail_from=mail_from))
    assert replies == {(250, b"2.0.0 Message accepted")}


@pytest.fixture
def http(tmp_path: Path) -> Iterator[LiveSidecar]:
    with live_sidecar(sidecar_settings(tmp_path)) as server:
        yield server


_VARYING = re.compile(rb"[0-9a-f]{12}-[0-9a-f]+|/p/[A-Za-z0-9_-]+|name=\"csrf\" value=\"[^\"]+\"")


def _answers(http: LiveSidecar, client: httpx.Client, paths: list[tuple[str, str]]) -> list[object]:
    seen: list[object] = []
    for method, path in paths:
        response = client.request(method, path, content=b"" if method == "POST" else None)
        headers = sorted(
            (k, v) for k, v in response.headers.items() if k not in ("date", "x-request-id")
        )
        seen.append((response.status_code, headers, _VARYING.sub(b"*", response.content)))
    return seen


def test_http_answers_do_not_depend_on_someone_elses_opt_out(http: LiveSidecar) -> None:
    center = http.real_center
    alice_u = center.unsubscribe_url("alice@example.org").split("/u/")[1]
    alice_p = center.preferences_url("alice@example.org").split("/p/")[1]
    bob_u = center.unsubscribe_url("bob@example.org").split("/u/")[1]
    forged_bob = bob_u[:-4] + ("AAAA" if not bob_u.endswith("AAAA") else "BBBB")
    paths = [
        ("GET", f"/u/{alice_u}"),
        ("GET", f"/p/{alice_p}"),
        ("GET", f"/u/{forged_bob}"),
        ("GET", f"/p/{forged_bob}"),
        ("POST", f"/u/{forged_bob}"),
        ("POST", "/v1/check"),
        ("POST", "/v1/history"),
    ]
    with http.client() as client:
        before = _answers(http, client, paths)
        center.suppress("bob@example.org", hard=True, reason="test", source=Source.CLI)
        after = _answers(http, client, paths)
    assert after == before
