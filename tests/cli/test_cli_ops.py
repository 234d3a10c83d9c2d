"""exceptions list/show/resolve, and report: requests, time to honour, violations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prefcenter.center import PreferenceCenter
from prefcenter.model import Source
from tests.cli.conftest import Prefcenter, one_error_line

RAW = b"From: Carol <carol@example.com>\r\nSubject: please stop\r\n\r\nTake me off your list.\r\n"


def center_at(prefcenter: Prefcenter, moment: datetime) -> PreferenceCenter:
    """A center on the same store whose clock says ``moment``."""
    return PreferenceCenter(prefcenter.settings(), clock=lambda: moment)


def test_violation_scenario_end_to_end(prefcenter: Prefcenter) -> None:
    # Alice opted out by one-click five days ago...
    with center_at(prefcenter, datetime.now(UTC) - timedelta(days=5)) as center:
        center.suppress("alice@example.com", source=Source.ONE_CLICK, evidence="req-1")
    # ...and a campaign tool mails her today under another spelling of her address.
    sent = prefcenter(
        "record-sent", "Alice+Promo@EXAMPLE.com", "--topic", "offers",
        "--sender", "crm-campaigns", "--message-id", "<m1@example.com>",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    # Bob opted out a moment ago: a send now is within the grace (a campaign in flight).
    prefcenter("suppress", "bob@example.com")
    prefcenter("record-sent", "bob@example.com", "--sender", "crm-campaigns")

    result = prefcenter("report", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["violations"]["count"] == 1
    (item,) = data["violations"]["items"]
    assert (item["sender"], item["topic"], item["message_id"], item["channel"]) == (
        "crm-campaigns", "offers", "<m1@example.com>", "email"
    )  # fmt: skip
    assert (item["address"], item["source"], item["scope"]) == (
        "alice@example.com", "one-click", "global"
    )  # fmt: skip
    assert item["late_by_seconds"] > data["violations"]["grace_seconds"]
    assert data["requests"]["by_source"] == {"cli": {"email": 1}, "one-click": {"email": 1}}
    assert data["time_to_honour"]["count"] == 2

    text = prefcenter("report").stdout
    assert "Violations (contacts after an opt-out, grace 2d): 1" in text
    assert "sender=crm-campaigns  email  topic=offers  marketing  message=<m1@example.com>" in text
    assert "alice@example.com  opted out" in text and "via one-click" in text

    # Without a grace, Bob's send counts too; a period after both sends has none.
    strict = json.loads(prefcenter("report", "--json", PREFCENTER_VIOLATION_GRACE="0s").stdout)
    assert strict["violations"]["count"] == 2
    later = prefcenter("report", "--json", "--since", "2999-01-01", "--until", "2999-02-01")
    assert json.loads(later.stdout)["violations"]["count"] == 0
    assert json.loads(later.stdout)["requests"]["total"] == 0
    # A period that ends before it starts is a mistake, not an empty report.
    backwards = prefcenter("report", "--since", "2999-01-01")
    assert backwards.returncode == 2
    assert one_error_line(backwards).startswith(
        "Error: The period starts 2999-01-01T00:00:00+00:00"
    )


def test_exceptions_queue(prefcenter: Prefcenter) -> None:
    with center_at(prefcenter, datetime.now(UTC) - timedelta(days=3)) as center:
        item = center.open_exception(
            mailbox="unsubscribe", why="no token", raw=RAW, summary="From: Carol",
            evidence="<reply-1@example.com>",
        )  # fmt: skip
    listed = prefcenter("exceptions", "list")
    assert listed.returncode == 0
    assert listed.stdout.startswith(f"#{item.id}  open  received ")
    assert "OVERDUE" in listed.stdout and "unsubscribe  no token  From: Carol" in listed.stdout
    (data,) = json.loads(prefcenter("exceptions", "list", "--json").stdout)
    assert (data["id"], data["status"], data["why"]) == (item.id, "open", "no token")
    assert "raw" not in data

    raw = prefcenter("exceptions", "show", str(item.id), "--raw")
    assert raw.stdout.encode() == RAW.replace(b"\r\n", b"\n") or raw.stdout.encode() == RAW

    report = json.loads(prefcenter("report", "--json").stdout)
    assert report["exceptions"]["open"] == 1
    assert [o["id"] for o in report["exceptions"]["overdue"]] == [item.id]

    done = prefcenter(
        "exceptions", "resolve", str(item.id), "--suppress", "carol@example.com",
        "--reason", "reply said stop",
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, f"#{item.id}  resolved\n"), done.stderr
    assert prefcenter("check", "carol@example.com").returncode == 1
    assert prefcenter("exceptions", "list").stdout == "no open exceptions\n"
    everything = json.loads(prefcenter("exceptions", "list", "--status", "all", "--json").stdout)
    assert [(e["id"], e["status"], e["resolution"]) for e in everything] == [
        (item.id, "resolved", "reply said stop")
    ]


def test_a_closed_exception_is_not_resolved_again(prefcenter: Prefcenter) -> None:
    item = prefcenter.center().open_exception(mailbox="unsubscribe", why="no token", raw=RAW)
    first = prefcenter("exceptions", "resolve", str(item.id), "--dismiss", "--reason", "spam")
    assert (first.returncode, first.stdout) == (0, f"#{item.id}  dismissed\n"), first.stderr
    (closed,) = json.loads(prefcenter("exceptions", "list", "--status", "all", "--json").stdout)
    at = datetime.fromisoformat(closed["resolved_at"]).strftime("%Y-%m-%d %H:%M:%SZ")

    again = prefcenter(
        "exceptions", "resolve", str(item.id), "--suppress", "carol@example.com",
        "--reason", "changed mind",
    )  # fmt: skip
    assert (again.returncode, again.stdout) == (2, "")
    assert one_error_line(again) == (
        f"Error: Exception {item.id} was already dismissed at {at}; nothing changed "
        f"(see `exceptions show {item.id}`)."
    )
    assert prefcenter("check", "carol@example.com").returncode == 0  # no suppression made
    # The same decision again is a retry (a command run twice): answered, nothing changed.
    retry = prefcenter("exceptions", "resolve", str(item.id), "--dismiss", "--reason", "spam")
    assert (retry.returncode, retry.stdout) == (0, f"#{item.id}  dismissed\n"), retry.stderr
    (after,) = json.loads(prefcenter("exceptions", "list", "--status", "all", "--json").stdout)
    assert after == closed

    missing = prefcenter("exceptions", "resolve", "999", "--dismiss", "--reason", "x")
    assert missing.returncode == 2
    assert one_error_line(missing) == (
        "Error: Exception 999 does not exist; list them with `exceptions list --status all`."
    )


def test_report_text_and_bad_dates(prefcenter_sqlite: Prefcenter) -> None:
    empty = prefcenter_sqlite("report")
    assert empty.returncode == 0
    assert "Requests by source and channel: 0" in empty.stdout
    assert "Time to honour (0 opt-outs): median -, p95 -, max -" in empty.stdout
    bad = prefcenter_sqlite("report", "--since", "last tuesday")
    assert bad.returncode == 2
    assert "'last tuesday' is not a date; write 2024-05-01, 2024-05-01T10:00:00Z or 7d." in (
        bad.stderr
    )
    week = prefcenter_sqlite("report", "--since", "7d", "--json")
    since = datetime.fromisoformat(json.loads(week.stdout)["since"])
    assert timedelta(days=6) < datetime.now(UTC) - since < timedelta(days=8)


def test_purge_prints_counts_and_refuses_a_retention_under_a_day(prefcenter: Prefcenter) -> None:
    # Both backends. The counts themselves are tested with a moved clock in tests/store.
    from prefcenter.model import Source

    with prefcenter.center() as center:
        item = center.open_exception(mailbox="unsubscribe", why="unproven", raw=b"x\r\n\r\nhi")
        center.resolve_exception(item.id, dismiss=True, reason="spam", source=Source.CLI)
        center.record_sent("bob@example.com", sender="news")
    days = {"PREFCENTER_EXCEPTION_RETENTION": "0d"}  # refused: the floor is a day
    assert prefcenter("purge", **days).returncode == 2
    later = {"PREFCENTER_EXCEPTION_RETENTION": "1d", "PREFCENTER_CONTACT_RETENTION": "7d"}
    preview = prefcenter("purge", "--dry-run", "--json", **later)
    counts = json.loads(preview.stdout)
    assert (counts["exceptions"], counts["contacts"], counts["dry_run"]) == (0, 0, True)
    text = prefcenter("purge", **later).stdout.splitlines()
    assert text[0].startswith("erased the mail of 0 exception(s) closed before ")
    assert text[1].startswith("deleted 0 contact record(s) from before ")
