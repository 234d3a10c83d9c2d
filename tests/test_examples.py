"""Every example in examples/ runs against a live sidecar (``prefcenter serve``) on loopback.

The sidecar is the real console script in a subprocess; outgoing mail goes to a real
aiosmtpd relay that keeps what it receives; each example runs as its own process with
settings only from ``PREFCENTER_*`` variables, as a user would run it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import httpx
import pytest

from prefcenter.model import Reason, Source
from tests.conftest import skip_or_fail
from tests.dkim_keys import resolver
from tests.live_sidecar import API_KEY, ROOT, Live, running_sidecar

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_sidecar(tmp_path_factory.mktemp("examples")) as sidecar:
        yield sidecar


def _mail_to(live: Live, recipient: str) -> list[tuple[str, EmailMessage]]:
    return [(frm, msg) for frm, rcpts, msg in live.relay.received if rcpts == [recipient]]


def test_newsletter_filters_stamps_with_dkim_and_records(live: Live) -> None:
    people = [f"news{i}@example.org" for i in range(4)]
    with live.center() as center:
        center.suppress(people[3], reason="asked", source=Source.CLI, evidence=None)
    recipients = live.file("news.txt", [*people, "not an address", "NEWS0@example.org"])

    out = live.run(sys.executable, EXAMPLES / "newsletter.py", recipients, "--topic", "weekly")
    assert json.loads(out) == {
        "sent": 3,
        "refused": {"duplicate": 1, "invalid": 1, "unsubscribed_global": 1},
    }
    assert _mail_to(live, people[3]) == []
    for person in people[:3]:
        ((envelope_from, message),) = _mail_to(live, person)
        assert envelope_from.startswith("bounces+") and envelope_from.endswith("@unsub.example.com")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        raw = live.relay.raw[str(message["Message-ID"])]  # the bytes as they crossed the wire
        assert b"DKIM-Signature" in raw
        assert dkim.verify(raw, dnsfunc=resolver(live.dns))

    # The recipient clicks one-click in their mail client: the link reaches the live sidecar.
    (_, message) = _mail_to(live, people[1])[0]
    link = str(message["List-Unsubscribe"]).split("<", 2)[1].split(">")[0]
    assert link.startswith(live.base_url + "/u/")
    answer = httpx.post(link, content=b"List-Unsubscribe=One-Click", timeout=10,
                        headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 200

    again = json.loads(
        live.run(sys.executable, EXAMPLES / "newsletter.py", recipients, "--topic", "weekly")
    )
    assert again["sent"] == 2
    assert again["refused"]["unsubscribed_topic"] == 1
    # Two recorded sends each: the store-wide cap (2 per 7 days) now holds people[0] back.
    with live.center() as center:
        assert center.check(people[0], "weekly").reason is Reason.FREQUENCY_CAP
        assert center.check(people[1], "weekly").reason is Reason.UNSUBSCRIBED_TOPIC


def test_async_sender_checks_in_threads_and_records(live: Live) -> None:
    people = [f"async{i}@example.org" for i in range(5)]
    with live.center() as center:
        center.suppress(people[0], hard=True, reason="bounce", source=Source.BOUNCE, evidence="d1")
    # A second spelling of people[1] (sub-address, case) is the same person: one message.
    recipients = live.file("async.txt", [*people, "broken@", "Async1+x@Example.org"])
    out = live.run(sys.executable, EXAMPLES / "async_sender.py", recipients, "--topic", "offers")
    assert json.loads(out) == {"duplicate": 1, "hard_suppressed": 1, "invalid": 1, "sent": 4}
    assert _mail_to(live, "Async1+x@Example.org") == []
    for person in people[1:]:
        ((_, message),) = _mail_to(live, person)
        assert "/u/" in str(message["List-Unsubscribe"])
    with live.center(frequency_cap="1/7d") as center:
        assert center.check(people[1], "offers").reason is Reason.FREQUENCY_CAP


@pytest.mark.parametrize("example", ["newsletter.py", "async_sender.py"])
def test_senders_name_a_relay_they_cannot_reach(live: Live, example: str) -> None:
    recipients = live.file("unreachable.txt", ["unreached@example.org"])
    with socket.socket() as closed:  # bound but not listening: a connection is refused
        closed.bind(("127.0.0.1", 0))
        relay = f"127.0.0.1:{closed.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / example), str(recipients), "--relay", relay],
            env=live.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"Cannot reach the SMTP relay {relay} (Connection refused); "
        "pass --relay HOST:PORT or set PREFCENTER_NOTIFY_RELAY.\n"
    )


def test_curl_sender_uses_only_the_api(live: Live) -> None:
    if shutil.which("jq") is None:
        skip_or_fail("jq is not installed (curl_sender.sh reads JSON with it)")
    people = [f"curl{i}@example.org" for i in range(3)]
    with live.center() as center:
        center.suppress("curl-out@example.org", source=Source.CLI, evidence=None)
    recipients = live.file("curl.txt", [*people, "curl-out@example.org"])
    script = EXAMPLES / "curl_sender.sh"
    extra = {"PREFCENTER_API_KEY": API_KEY}
    first = live.run("sh", script, recipients, "offers", extra=extra)
    assert [line for line in first.splitlines() if line.startswith("send ")] == [
        f"send {p}" for p in people
    ]
    # Each message gets its own one-click headers and VERP return path from /v1/links.
    assert first.count("  List-Unsubscribe-Post: List-Unsubscribe=One-Click") == 3
    assert len(set(re.findall(r"List-Unsubscribe: <(\S+)>,", first))) == 3
    assert first.count("(MAIL FROM:<bounces+") == 3
    assert first.splitlines()[-1] == "sent 3; refused: unsubscribed_global=1"
    live.run("sh", script, recipients, "offers", extra=extra)
    # Both runs' sends were recorded through /v1/sends: the cap of 2 per 7 days is reached.
    third = live.run("sh", script, recipients, "offers", extra=extra)
    assert third.splitlines() == ["sent 0; refused: frequency_cap=3 unsubscribed_global=1"]


def test_curl_sender_stops_on_a_wrong_key(live: Live) -> None:
    recipients = live.file("curl-bad.txt", ["someone@example.org"])
    result = subprocess.run(
        ["sh", str(EXAMPLES / "curl_sender.sh"), str(recipients)],
        env={**live.env, "PREFCENTER_API_KEY": "wrong"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "send " not in result.stdout


def test_import_list_keeps_rows_byte_for_byte(live: Live) -> None:
    with live.center() as center:
        center.suppress("bought-out@example.org", topic="offers", source=Source.CLI, evidence=None)
    rows = [
        "name,email,city",
        "Ann,bought1@example.org,Oslo",
        'Bob,bought-out@example.org,"Bergen, NO"',
        "Cy,no-at-sign,Oslo",
        "Di,BOUGHT1@example.org,Oslo",
        "Ed,bought2@example.org,Ås",
    ]
    source = live.file("bought.csv", rows)
    output = live.tmp / "sendable.csv"
    out = live.run("sh", EXAMPLES / "import_list.sh", source, output, "offers")
    kept = output.read_text(encoding="utf-8")
    assert kept == "\n".join([rows[0], rows[1], rows[5]]) + "\n"
    assert [r["email"] for r in csv.DictReader(io.StringIO(kept))] == [
        "bought1@example.org",
        "bought2@example.org",
    ]
    summary = json.dumps(json.loads(out))
    for reason in ("unsubscribed_topic", "invalid", "duplicate"):
        assert reason in summary


def test_import_list_without_prefcenter_says_so(tmp_path: Path) -> None:
    source = tmp_path / "bought.csv"
    source.write_text("email\nann@example.org\n")
    environment = {"PATH": "/usr/bin:/bin", "PREFCENTER_CLI": str(tmp_path / "missing")}
    result = subprocess.run(
        ["sh", str(EXAMPLES / "import_list.sh"), str(source), str(tmp_path / "out.csv")],
        capture_output=True, text=True, env=environment, timeout=30,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "prefcenter not found: run '. .venv/bin/activate' or set PREFCENTER_CLI\n"
    )  # not a bare "sh: 1: prefcenter: not found" (exit 127)
    assert not (tmp_path / "out.csv").exists()


def test_call_centre_skips_a_number_that_opted_out_of_texts(live: Live) -> None:
    with live.center() as center:
        center.suppress("+14155550125", channel="sms", reason="STOP", source=Source.API,
                        evidence=None)  # fmt: skip
    numbers = live.file("numbers.txt", ["+14155550125"])
    out = live.run("sh", EXAMPLES / "call_centre.sh", numbers, "agent-17")
    assert out.splitlines() == ["SKIP +14155550125"]


def test_call_centre_without_prefcenter_says_so_and_dials_nobody(tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("+14155550124\n")
    environment = {"PATH": "/usr/bin:/bin", "PREFCENTER_CLI": str(tmp_path / "missing")}
    result = subprocess.run(
        ["sh", str(EXAMPLES / "call_centre.sh"), str(numbers)],
        capture_output=True, text=True, env=environment, timeout=30,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert "prefcenter not found" in result.stderr  # not "store unavailable" (exit 127)


def test_call_centre_checks_voice_before_dialling_and_records_the_call(live: Live) -> None:
    with live.center() as center:
        center.suppress("+14155550123", channel="voice", reason="do not call", source=Source.CLI,
                        evidence=None)  # fmt: skip
    numbers = live.file("numbers.txt", ["+14155550123", "+14155550124", "12"])
    extra = {"PREFCENTER_FREQUENCY_CAP": "1/7d"}
    first = live.run("sh", EXAMPLES / "call_centre.sh", numbers, "agent-17", extra=extra)
    assert first.splitlines()[:2] == ["SKIP +14155550123", "DIAL +14155550124"]
    assert first.splitlines()[2].startswith("BAD 12: Recipient '12' is not usable")
    # The call was recorded: the next agent is held back by the cap (one call per week).
    second = live.run("sh", EXAMPLES / "call_centre.sh", numbers, "agent-18", extra=extra)
    assert second.splitlines()[:2] == ["SKIP +14155550123", "SKIP +14155550124"]
    assert second.splitlines()[2].startswith("BAD 12: ")
    with live.center(frequency_cap="1/7d") as center:
        decision = center.check("+14155550124", channel="voice")
    assert decision.reason is Reason.FREQUENCY_CAP


def test_esp_forwarder_posts_signed_events_once(live: Live) -> None:
    events = live.file(
        "events.jsonl",
        [
            json.dumps({"type": "bounce", "recipient": "fwd-gone@example.org", "evidence": "sp-1"}),
            json.dumps({"type": "suppress", "recipient": "+14155550177", "channel": "sms"}),
            json.dumps({"type": "complaint", "recipient": "fwd-angry@example.org"}),
        ],
    )
    first = json.loads(live.run(sys.executable, EXAMPLES / "esp_forwarder.py", events))
    assert first == {"changed": 3, "ignored": 0, "invalid": 0, "queued": 0, "sent": 3,
                     "unchanged": 0}  # fmt: skip
    again = json.loads(live.run(sys.executable, EXAMPLES / "esp_forwarder.py", events))
    assert again["changed"] == 0 and again["unchanged"] == 3
    with live.center() as center:
        assert center.check("fwd-gone@example.org").reason is Reason.HARD_SUPPRESSED
        assert center.check("fwd-angry@example.org").reason is Reason.HARD_SUPPRESSED
        decision = center.check("+14155550177", channel="sms")
        assert decision.reason is Reason.UNSUBSCRIBED_GLOBAL
