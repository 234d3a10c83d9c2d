"""``prefcenter explain FILE``: what the sidecar would do with a message, store unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Prefcenter
from tests.inbound.mail_samples import load_sample

ALICE = "alice@example.org"


def test_explain_a_proven_hard_bounce_changes_nothing(
    prefcenter_sqlite: Prefcenter, tmp_path: Path
) -> None:
    center = prefcenter_sqlite.center()
    center.record_sent(ALICE, message_id="<campaign-42@example.com>")
    counts = center.store.counts()
    center.close()
    (tmp_path / "bounce.eml").write_bytes(load_sample("dsn_hard_postfix.eml", RCPT=ALICE))
    result = prefcenter_sqlite("explain", "bounce.eml")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "kind: bounce (rfc3464)" in out
    assert f"recipient: {ALICE}  hard  user-unknown 5.1.1  permanent" in out
    assert "proof: a Message-ID recorded at send time" in out
    assert "action: hard suppression now" in out
    after = prefcenter_sqlite.center()
    assert after.store.counts() == counts
    assert after.check(ALICE).allowed
    after.close()


def test_explain_an_unproven_bounce_and_json(prefcenter_sqlite: Prefcenter, tmp_path: Path) -> None:
    prefcenter_sqlite.center().close()
    (tmp_path / "bounce.eml").write_bytes(load_sample("bounce_exim.eml", RCPT=ALICE))
    result = prefcenter_sqlite("explain", "bounce.eml", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["kind"], data["format"], data["proof"]) == ("bounce", "exim", "")
    assert data["recipients"][0]["address"] == ALICE
    assert data["action"].startswith("evidence only")


def test_explain_a_vacation_reply_and_a_complaint(
    prefcenter_sqlite: Prefcenter, tmp_path: Path
) -> None:
    prefcenter_sqlite.center().close()
    (tmp_path / "ooo.eml").write_bytes(load_sample("ooo_english.eml"))
    result = prefcenter_sqlite("explain", "ooo.eml")
    assert "kind: auto-reply" in result.stdout
    (tmp_path / "arf.eml").write_bytes(load_sample("arf_no_original.eml", RCPT=ALICE))
    result = prefcenter_sqlite("explain", "--to", "fbl@unsub.example.com", "arf.eml")
    assert "kind: complaint (arf)" in result.stdout
    assert "action: kept for audit: no proof, changes nobody" in result.stdout


def test_explain_refuses_an_address_that_is_not_a_mailbox(
    prefcenter_sqlite: Prefcenter, tmp_path: Path
) -> None:
    prefcenter_sqlite.center().close()
    (tmp_path / "m.eml").write_bytes(b"Subject: x\r\n\r\nx\r\n")
    result = prefcenter_sqlite("explain", "--to", "alice@example.org", "m.eml")
    assert result.returncode == 2
    assert "is not one of the sidecar's mailboxes" in result.stderr
