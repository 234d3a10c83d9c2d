"""`prefcenter resubscribe`: lifts what it names, says what still blocks, audits only changes."""

from __future__ import annotations

from tests.cli.conftest import Prefcenter


def _actions(prefcenter: Prefcenter, address: str) -> list[str]:
    history = prefcenter("history", address).stdout.splitlines()
    return [line.split("  ")[1] for line in history]


def test_a_hard_suppression_is_named_and_not_audited_when_nothing_is_lifted(
    prefcenter: Prefcenter,
) -> None:
    prefcenter("suppress", "dan@example.com", "--hard", "--reason", "bounced 5.1.1")
    result = prefcenter("resubscribe", "dan@example.com", "--reason", "asked again")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "dan@example.com  nothing lifted"
    assert lines[1].startswith("dan@example.com  still refused: hard suppression since ")
    assert "via cli ('bounced 5.1.1')" in lines[1]
    assert lines[1].endswith("lift it with --hard (and a reason: proof the address works again).")
    assert _actions(prefcenter, "dan@example.com") == ["suppress"]  # no resubscribe event


def test_hard_lifts_a_hard_suppression_with_a_reason(prefcenter: Prefcenter) -> None:
    prefcenter("suppress", "dan@example.com", "--hard", "--reason", "bounced")
    missing = prefcenter("resubscribe", "dan@example.com", "--hard")
    assert missing.returncode == 2 and "Missing option '--reason'" in missing.stderr
    lifted = prefcenter(
        "resubscribe", "dan@example.com", "--hard", "--reason", "mailbox fixed, ticket 12"
    )
    assert (lifted.returncode, lifted.stdout) == (0, "dan@example.com  resubscribed\n")
    assert prefcenter("check", "dan@example.com").returncode == 0
    assert _actions(prefcenter, "dan@example.com") == ["suppress", "resubscribe"]


def test_what_remains_after_a_partial_lift_is_said(prefcenter: Prefcenter) -> None:
    prefcenter("suppress", "eve@example.com", "--reason", "phoned")
    prefcenter("suppress", "eve@example.com", "--hard", "--reason", "complaint")
    result = prefcenter("resubscribe", "eve@example.com", "--hard", "--reason", "ok now")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "eve@example.com  resubscribed"
    assert lines[1].startswith("eve@example.com  still refused: unsubscribed from all marketing")
    assert lines[1].endswith("lift it without --hard and --topic.")


def test_nothing_to_lift_writes_no_event(prefcenter: Prefcenter) -> None:
    result = prefcenter("resubscribe", "fay@example.com", "--reason", "asked")
    assert (result.returncode, result.stdout) == (0, "fay@example.com  was not suppressed\n")
    assert prefcenter("history", "fay@example.com").stdout == (
        "no events recorded for this address\n"
    )
