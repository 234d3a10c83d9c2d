"""Privacy: no clear address in URLs, logs or metrics; forget leaves none on disk; secrets
are hashed at rest and compared in constant time.

Logs and metrics outlive erasure requests, so a clear address written there can never
be forgotten. The server here is a real ``prefcenter serve`` at log level debug; every
line it writes (its whole stderr) and every /metrics sample is scanned after it has
served every kind of request about a handful of people.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import smtplib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.model import Source
from prefcenter.tokens import Purpose, TokenSigner
from tests.conftest import TEST_PEPPER, TEST_SECRET, make_settings
from tests.reliability.server import API_KEY, ServerFactory, settings_for

PEOPLE = ["zelda.private@example.com", "Yannick+News@Example.org", "x.quiet@example.net"]
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def needles(address: str) -> list[bytes]:
    """Spellings of an address that must not appear: as given, canonical, the local part."""
    local = address.split("@", 1)[0].split("+", 1)[0]
    return [address.encode(), address.lower().encode(), local.lower().encode()]


def found_in(data: bytes, addresses: list[str]) -> list[str]:
    lowered = data.lower()
    return [a for a in addresses for needle in needles(a) if needle.lower() in lowered]


@settings(max_examples=60, deadline=None)
@given(
    local=st.from_regex(r"[a-z][a-z0-9.]{4,30}[a-z0-9]", fullmatch=True),
    topic=st.one_of(st.none(), st.sampled_from(["news", "deals"])),
)
def test_links_and_headers_never_carry_the_address(
    local: str, topic: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("links")
    with PreferenceCenter(make_settings(root)) as center:
        address = f"{local.replace('..', '.')}@example.com"
        identity = center.identity(address)
        texts = [
            center.unsubscribe_url(address, topic),
            center.preferences_url(address, topic),
            center.links.mailto_address(identity, topic),
            center.links.bounce_address(identity),
            *center.headers(address, topic).values(),
        ]
    for text in texts:
        assert address.lower() not in text.lower()
        assert f"{local}@" not in text.lower()


def test_tokens_have_one_length_whatever_the_address(tmp_path: Path) -> None:
    with PreferenceCenter(make_settings(tmp_path)) as center:
        short = center.unsubscribe_url("a@b.co")
        long = center.unsubscribe_url("a" * 60 + "@" + "b" * 60 + ".example.com")
    assert len(short.rsplit("/", 1)[1]) == len(long.rsplit("/", 1)[1])


def _traffic(server: Any, center: PreferenceCenter) -> None:
    """Every kind of request about PEOPLE: pages, one-click, forms, API, all mailboxes."""
    auth = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=server.url, timeout=20, follow_redirects=False) as client:
        for address in PEOPLE:
            unsubscribe = "/u/" + center.unsubscribe_url(address, "news").rsplit("/", 1)[1]
            preferences = "/p/" + center.preferences_url(address).rsplit("/", 1)[1]
            assert client.get(unsubscribe).status_code == 200
            assert client.post(unsubscribe, content=ONE_CLICK, headers=FORM).status_code == 200
            page = client.get(preferences)
            assert page.status_code == 200
            csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            form = {"action": "save", "csrf": csrf, "frequency": "7", "topic": "deals"}
            assert client.post(preferences, data=form).status_code == 303
            for path in ("/v1/check", "/v1/suppress", "/v1/history"):
                assert (
                    client.post(path, json={"recipient": address}, headers=auth).status_code == 200
                )
            assert (
                client.post(
                    "/v1/resubscribe", json={"recipient": address}, headers=auth
                ).status_code
                == 422
            )
            assert (
                client.post(
                    "/v1/suppress",
                    json={"recipient": address + "\r\nBcc: all@example.com"},
                    headers=auth,
                ).status_code
                == 422
            )
        assert client.get("/healthz").status_code == 200
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=20) as smtp:
        for number, address in enumerate(PEOPLE):
            identity = center.identity(address)
            message = (
                f"From: <{address}>\r\nSubject: unsubscribe\r\nMessage-ID: <p{number}@client>\r\n"
                f"\r\nPlease remove {address}.\r\n"
            ).encode()
            smtp.sendmail(address, ["unsubscribe@unsub.example.com"], message)  # no proof: queued
            smtp.sendmail(
                address,
                [center.links.mailto_address(identity, None)],
                message.replace(b"<p", b"<t"),
            )
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail(address, [address], message)  # not a relay


def test_no_clear_address_in_logs_or_metrics(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path
) -> None:
    server = serve(sqlite_url, log_level="debug")
    with PreferenceCenter(settings_for(server.values, tmp_path)) as center:
        _traffic(server, center)
        metrics = httpx.get(server.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "prefcenter" in metrics.text
    server.stop()
    logs = server.log_path.read_bytes()
    assert b"INFO" in logs or b"DEBUG" in logs  # the scan below read real log lines
    assert found_in(logs, PEOPLE) == []
    assert found_in(metrics.content, PEOPLE) == []
    assert API_KEY.encode() not in logs + metrics.content


def _history_of_a_person(center: PreferenceCenter, address: str) -> None:
    center.suppress(address, topic="news", reason="asked", source=Source.API, evidence="a-1")
    center.record_sent(address, topic="deals", sender="crm", message_id="<m-1@crm>")
    center.set_frequency(address, 7, source=Source.WEB, evidence="w-1")
    center.suppress(address, reason="all", source=Source.ONE_CLICK, evidence="o-1")
    center.unsubscribe_url(address, "deals")


def _filler(center: PreferenceCenter, count: int) -> None:
    for number in range(count):
        center.suppress(f"filler{number}@example.com", source=Source.IMPORT, evidence=f"f-{number}")


def _database_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_forget_leaves_no_address_in_the_closed_database(tmp_path: Path) -> None:
    address = PEOPLE[0]
    settings = make_settings(tmp_path)
    db = tmp_path / "prefcenter.db"
    with PreferenceCenter(settings) as center:
        _history_of_a_person(center, address)
        _filler(center, 300)
        assert found_in(_database_bytes(db), [address]) == [address] * 3  # it was there
        assert center.forget(address, source=Source.CLI, evidence="gdpr-1")
        assert not center.check(address).allowed  # the opt-out still works
        assert [s.address for s in center.export() if s.address and "zelda" in s.address] == []
    stored = _database_bytes(db)
    assert found_in(stored, [address]) == []
    # The keys that would let a thief recompute identity hashes or forge links are not there.
    assert TEST_PEPPER.encode() not in stored and TEST_SECRET.encode() not in stored


def test_forget_leaves_no_address_in_the_database_of_a_running_server(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path
) -> None:
    address = PEOPLE[0]
    server = serve(sqlite_url)
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    with PreferenceCenter(settings_for(server.values, tmp_path)) as center:
        _history_of_a_person(center, address)
        _filler(center, 300)
        with httpx.Client(base_url=server.url, timeout=20) as client:
            path = "/u/" + center.unsubscribe_url(address).rsplit("/", 1)[1]
            assert client.post(path, content=ONE_CLICK, headers=FORM).status_code == 200
        assert center.forget(address, source=Source.CLI, evidence="gdpr-2")
    # The server still has the database open, as it would for weeks.
    assert found_in(_database_bytes(db), [address]) == []


def test_forget_erases_the_address_from_queued_exceptions(tmp_path: Path) -> None:
    address = PEOPLE[0]
    db = tmp_path / "prefcenter.db"
    with PreferenceCenter(make_settings(tmp_path)) as center:
        center.suppress(address, source=Source.API, evidence="a-1")
        raw = f"From: <{address}>\r\nSubject: stop\r\n\r\nstop\r\n".encode()
        center.open_exception(mailbox="unsubscribe", why="unproven", raw=raw, evidence="<e-1@x>")
        assert center.forget(address, source=Source.CLI, evidence="gdpr-3")
    assert found_in(_database_bytes(db), [address]) == []


def test_api_keys_are_kept_only_as_hashes(
    serve: ServerFactory, sqlite_url: str, tmp_path: Path
) -> None:
    from prefcenter.sidecar.http.state import api_key_hashes

    plain = "only-the-hash-is-configured-0123"
    digest = hashlib.sha256(plain.encode()).hexdigest()
    server = serve(sqlite_url, api_keys=f"sha256:{digest}")
    assert plain not in "".join(server.env().values())
    auth = {"authorization": f"Bearer {plain}"}
    with httpx.Client(base_url=server.url, timeout=20) as client:
        ok = client.post("/v1/check", json={"recipient": PEOPLE[1]}, headers=auth)
        bad = client.post(
            "/v1/check",
            json={"recipient": PEOPLE[1]},
            headers={"authorization": f"Bearer sha256:{digest}"},
        )
    assert (ok.status_code, bad.status_code) == (200, 401)  # the hash itself is not a key
    settings = make_settings(tmp_path, api_keys=f"{plain},sha256:{digest}")
    assert api_key_hashes(settings) == (bytes.fromhex(digest), bytes.fromhex(digest))
    assert plain not in repr(settings)
    server.stop()
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    assert plain.encode() not in _database_bytes(db) + server.log_path.read_bytes()


def _counting(calls: list[int]) -> Callable[[Any, Any], bool]:
    original = hmac.compare_digest

    def compare(a: Any, b: Any) -> bool:
        calls.append(1)
        return original(a, b)

    return compare


def test_token_signatures_are_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PreferenceCenter(make_settings(tmp_path)) as center:
        token = center.unsubscribe_url(PEOPLE[0]).rsplit("/", 1)[1]
        calls: list[int] = []
        monkeypatch.setattr(hmac, "compare_digest", _counting(calls))
        center.verify_token(token, Purpose.UNSUBSCRIBE)
    assert calls, "TokenSigner.verify must compare MACs with hmac.compare_digest"
    source = inspect.getsource(TokenSigner)
    assert "compare_digest" in source
    assert "mac ==" not in source and "== mac" not in source


def test_api_keys_and_form_tokens_are_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefcenter.sidecar.http import state

    calls: list[int] = []
    monkeypatch.setattr(hmac, "compare_digest", _counting(calls))
    sidecar = object.__new__(state.Sidecar)
    object.__setattr__(sidecar, "api_key_hashes", (hashlib.sha256(b"k").digest(),) * 2)
    object.__setattr__(sidecar, "csrf_keys", (b"old", b"new"))
    assert sidecar.api_key_valid("k") and not sidecar.api_key_valid("j")
    assert len(calls) == 4  # every configured key compared, no early exit
    calls.clear()
    assert sidecar.csrf_valid("link", sidecar.csrf_token("link"))
    assert not sidecar.csrf_valid("link", "0" * 32)
    assert len(calls) == 4
