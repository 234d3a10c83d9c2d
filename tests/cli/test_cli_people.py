"""check, suppress, resubscribe, history, forget, link, link-identities, record-sent."""

from __future__ import annotations

import json
from datetime import datetime

from tests.cli.conftest import Prefcenter, one_error_line

DECISION_KEYS = {
    "address", "allowed", "reason", "message", "identity_hash", "channel", "topic", "since",
    "scope", "source", "until",
}  # fmt: skip


def test_check_suppress_resubscribe(prefcenter: Prefcenter) -> None:
    first = prefcenter("check", "alice@example.com")
    assert (first.returncode, first.stdout) == (0, "alice@example.com  allowed\n")

    done = prefcenter("suppress", "Alice+promo@Example.com", "--reason", "asked by phone")
    assert (done.returncode, done.stdout) == (0, "Alice+promo@Example.com  suppressed\n")
    again = prefcenter("suppress", "alice@example.com")
    assert again.stdout == "alice@example.com  already suppressed\n"

    checked = prefcenter("check", "alice@example.com", "bob@example.com", "--json")
    assert checked.returncode == 1
    alice, bob = json.loads(checked.stdout)
    assert set(alice) == DECISION_KEYS
    assert (alice["allowed"], alice["reason"], alice["source"]) == (
        False, "unsubscribed_global", "cli"
    )  # fmt: skip
    assert alice["since"] is not None and alice["channel"] == "email"
    assert (bob["allowed"], bob["reason"]) == (True, "allowed")

    text = prefcenter("check", "ALICE@example.com")
    assert text.returncode == 1
    assert text.stdout.startswith("ALICE@example.com  refused  unsubscribed_global  since ")
    assert "via cli" in text.stdout

    missing = prefcenter("resubscribe", "alice@example.com")
    assert missing.returncode == 2
    assert "Missing option '--reason'" in missing.stderr

    lifted = prefcenter("resubscribe", "alice@example.com", "--reason", "signed up again")
    assert (lifted.returncode, lifted.stdout) == (0, "alice@example.com  resubscribed\n")
    assert prefcenter("check", "alice@example.com").returncode == 0


def test_topic_and_hard_suppressions(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter = prefcenter_sqlite
    prefcenter("suppress", "carol@example.com", "--topic", "news")
    assert prefcenter("check", "carol@example.com", "--topic", "news").returncode == 1
    assert prefcenter("check", "carol@example.com", "--topic", "offers").returncode == 0
    assert prefcenter("check", "carol@example.com", "--kind", "transactional").returncode == 0
    prefcenter("suppress", "carol@example.com", "--hard", "--reason", "bounced")
    hard = prefcenter("check", "carol@example.com", "--kind", "transactional", "--json")
    assert (hard.returncode, json.loads(hard.stdout)[0]["reason"]) == (1, "hard_suppressed")


def test_bad_input_is_one_line_and_exit_2(prefcenter_sqlite: Prefcenter) -> None:
    result = prefcenter_sqlite("check", "alice@example.com", "not an address")
    assert (result.returncode, result.stdout) == (2, "")  # nothing answered before the error
    line = one_error_line(result)
    assert line.startswith("Error: Recipient 'not an address' is not usable")

    channel = prefcenter_sqlite("check", "alice@example.com", "--channel", "fax")
    assert channel.returncode == 2
    assert "'fax' is not one of 'email', 'sms', 'voice'" in channel.stderr

    blank = prefcenter_sqlite("resubscribe", "alice@example.com", "--reason", "  ")
    assert blank.returncode == 2
    one_error_line(blank)

    neither = prefcenter_sqlite("exceptions", "resolve", "1", "--reason", "x")
    assert neither.returncode == 2
    assert "Give exactly one of --suppress ADDRESS or --dismiss." in neither.stderr
    missing = prefcenter_sqlite("exceptions", "show", "999")
    assert missing.returncode == 2
    assert one_error_line(missing).startswith("Error: Exception 999 does not exist")

    setting = prefcenter_sqlite("check", "a@example.com", PREFCENTER_VIOLATION_GRACE="soon")
    assert setting.returncode == 2
    assert one_error_line(setting).startswith("Error: Setting VIOLATION_GRACE has value 'soon'")


def test_unreachable_store_exits_3(prefcenter_sqlite: Prefcenter) -> None:
    directory = prefcenter_sqlite.tmp_path / "a-directory"
    directory.mkdir()  # where the database file should be
    result = prefcenter_sqlite("--database", f"sqlite:///{directory}", "check", "a@b.com")
    assert result.returncode == 3, result.stderr
    assert one_error_line(result).startswith("Error: ")


def test_history_in_time_order(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter = prefcenter_sqlite
    prefcenter("suppress", "dave@example.com", "--reason", "first")
    prefcenter("resubscribe", "dave@example.com", "--reason", "ticket 4711")
    prefcenter("suppress", "Dave@Example.com", "--topic", "news")
    events = json.loads(prefcenter("history", "dave@example.com", "--json").stdout)
    assert [(e["action"], e["source"], e["topic"]) for e in events] == [
        ("suppress", "cli", None), ("resubscribe", "cli", None), ("suppress", "cli", "news")
    ]  # fmt: skip
    assert events[1]["reason"] == "ticket 4711"
    assert all(e["evidence"].startswith("cli:") for e in events)
    assert len({e["evidence"] for e in events}) == 3  # every run is its own evidence
    text = prefcenter("history", "dave@example.com").stdout.splitlines()
    assert len(text) == 3
    assert "resubscribe  cli  email" in text[1] and "reason='ticket 4711'" in text[1]
    assert (
        prefcenter("history", "nobody@example.com").stdout
        == "no events recorded for this address\n"
    )


def test_forget_keeps_the_opt_out(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter = prefcenter_sqlite
    prefcenter("suppress", "erin@example.com")
    result = prefcenter("forget", "erin@example.com")
    assert (result.returncode, result.stdout) == (0, "erin@example.com  forgotten\n")
    assert prefcenter("check", "erin@example.com").returncode == 1


def test_forget_of_an_address_only_mailed_says_forgotten(prefcenter_sqlite: Prefcenter) -> None:
    # A send stores the address without an audit event: erasing it is not "no history".
    prefcenter = prefcenter_sqlite
    prefcenter("record-sent", "dave@example.com", "--topic", "offers", "--sender", "x")
    result = prefcenter("forget", "dave@example.com")
    assert (result.returncode, result.stdout) == (0, "dave@example.com  forgotten\n")


def _forgotten_at(prefcenter: Prefcenter, address: str) -> str:
    events = json.loads(prefcenter("history", address, "--json").stdout)
    (first, *_) = [e for e in events if e["action"] == "forget"]
    return datetime.fromisoformat(first["at"]).strftime("%Y-%m-%d %H:%M:%SZ")


def test_forget_says_what_it_did_and_records_every_request(
    prefcenter_sqlite: Prefcenter,
) -> None:
    prefcenter = prefcenter_sqlite
    unknown = prefcenter("forget", "nobody@example.com")
    assert (unknown.returncode, unknown.stdout) == (
        0, "nobody@example.com  no history for this address; erasure request recorded\n"
    )  # fmt: skip
    prefcenter("suppress", "erin@example.com")
    assert prefcenter("forget", "erin@example.com").stdout == "erin@example.com  forgotten\n"
    for address in ("nobody@example.com", "Erin@Example.com"):
        again = prefcenter("forget", address)
        since = _forgotten_at(prefcenter, address)
        assert (again.returncode, again.stdout) == (
            0, f"{address}  already forgotten on {since}; erasure request recorded\n"
        )  # fmt: skip
        # Art. 17 requests stay provable: each one is in the audit trail, repeats included.
        events = json.loads(prefcenter("history", address, "--json").stdout)
        assert [e["action"] for e in events].count("forget") == 2


def test_forget_erases_linked_identities_and_says_so(prefcenter: Prefcenter) -> None:
    # Both backends: the erasure's SQL (lists of hashes, reasons) runs on each.
    prefcenter("suppress", "erin@example.com", "--reason", "Erin (erin@example.com) phoned")
    prefcenter("link-identities", "erin@example.com", "+14155550123", "--second-channel", "sms")
    result = prefcenter("forget", "erin@example.com")
    assert (result.returncode, result.stdout) == (
        0, "erin@example.com  forgotten, with 1 linked identity\n"
    )  # fmt: skip
    exported = prefcenter("export", "--all").stdout
    assert "erin@example.com" not in exported and "[erased]" in exported
    with prefcenter.center() as center:
        assert [s.address for s in center.export()] == [None]


def test_link_prints_headers_and_links(prefcenter_sqlite: Prefcenter) -> None:
    result = prefcenter_sqlite("link", "alice@example.com", "--topic", "news", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"List-Unsubscribe", "List-Unsubscribe-Post", "url", "mailto"} <= set(data)
    assert data["url"].startswith("https://prefs.example.com/u/")
    assert data["mailto"].startswith("mailto:unsubscribe+")
    assert data["mailto"].endswith("@unsub.example.com?subject=unsubscribe")
    assert data["url"] in data["List-Unsubscribe"]
    assert data["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "alice" not in data["url"]
    assert data["preferences"].startswith("https://prefs.example.com/p/")
    assert data["return_path"].startswith("bounces+")
    assert data["return_path"].endswith("@unsub.example.com")
    text = prefcenter_sqlite("link", "alice@example.com").stdout
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n" in text


def test_link_identities_and_all_channels(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter = prefcenter_sqlite
    linked = prefcenter(
        "link-identities", "frank@example.com", "+1 415 555 0100", "--second-channel", "sms"
    )
    assert (linked.returncode, linked.stdout) == (0, "linked\n"), linked.stderr
    prefcenter("suppress", "frank@example.com", "--all-channels")
    sms = prefcenter("check", "+14155550100", "--channel", "sms")
    assert sms.returncode == 1


def test_record_sent_for_scripts(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter = prefcenter_sqlite
    result = prefcenter(
        "record-sent", "+14155550123", "--channel", "voice", "--topic", "offers",
        "--sender", "agent-17", "--message-id", "call-1",
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "+14155550123  recorded\n"), result.stderr
    bad = prefcenter("record-sent", "12", "--channel", "voice")
    assert bad.returncode == 2
    one_error_line(bad)


def test_global_database_and_config_options(prefcenter_sqlite: Prefcenter) -> None:
    # --database is an argument: it wins over PREFCENTER_DATABASE.
    other = f"sqlite:///{prefcenter_sqlite.tmp_path / 'other.db'}"
    Prefcenter(other, prefcenter_sqlite.tmp_path).center().close()  # an existing store
    assert prefcenter_sqlite("--database", other, "suppress", "gina@example.com").returncode == 0
    assert prefcenter_sqlite("check", "gina@example.com").returncode == 0  # the default store
    assert prefcenter_sqlite("--database", other, "check", "gina@example.com").returncode == 1

    config = prefcenter_sqlite.tmp_path / "prefcenter.toml"
    config.write_text('[prefcenter]\ncompany_name = "Configured Co"\n')
    linked = prefcenter_sqlite("--config", str(config), "link", "gina@example.com", "--json")
    assert '"Configured Co"' in json.loads(linked.stdout)["List-Id"]
    config.write_text("[prefcenter]\nno_such_setting = 1\n")
    bad = prefcenter_sqlite("--config", str(config), "check", "gina@example.com")
    assert bad.returncode == 2
    assert "unknown setting 'no_such_setting'" in one_error_line(bad)


def test_short_keys_are_one_line_without_the_value(prefcenter_sqlite: Prefcenter) -> None:
    pepper = prefcenter_sqlite("check", "bob@example.com", PREFCENTER_PEPPER="x")
    assert pepper.returncode == 2
    assert one_error_line(pepper) == (
        "Error: Setting PEPPER is 1 byte long; it needs at least 16 bytes: generate one with "
        'python -c "import secrets; print(secrets.token_urlsafe(32))".'
    )
    secret = prefcenter_sqlite("check", "bob@example.com", PREFCENTER_SECRET="abc")
    assert secret.returncode == 2
    line = one_error_line(secret)
    assert line.startswith("Error: Setting SECRET has a signing key 3 bytes long;")
    assert "abc" not in line


def test_unusable_var_dir_is_one_line(prefcenter_sqlite: Prefcenter) -> None:
    var_dir = prefcenter_sqlite.tmp_path / "a-file"
    var_dir.write_text("not a directory")
    result = prefcenter_sqlite(
        "check", "bob@example.com",
        PREFCENTER_VAR_DIR=str(var_dir), PREFCENTER_SECRET="", PREFCENTER_PEPPER="",
    )  # fmt: skip
    assert result.returncode == 2
    assert one_error_line(result) == (
        f"Error: Setting VAR_DIR is {str(var_dir)!r}, but the development key file "
        f"{str(var_dir / 'secret')!r} cannot be written (Not a directory); point "
        "PREFCENTER_VAR_DIR at a writable directory, or set PREFCENTER_SECRET and "
        "PREFCENTER_PEPPER."
    )


def test_a_phone_number_on_the_email_channel_gets_a_hint(prefcenter_sqlite: Prefcenter) -> None:
    for number in ("+14155550100", "+1 (415) 555-0100", "004915112345678"):
        result = prefcenter_sqlite("check", number)
        assert result.returncode == 2
        assert one_error_line(result) == (
            f"Error: Recipient {number!r} is not usable: An email address must have an @-sign; "
            "for a phone number use channel sms or voice (--channel sms or --channel voice)."
        )
    word = one_error_line(prefcenter_sqlite("check", "bob"))
    assert word.endswith("must have an @-sign; correct the address or drop it.")
