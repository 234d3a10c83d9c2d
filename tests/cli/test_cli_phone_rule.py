"""THE SMS/voice rule: a marketing opt-out on a number covers texts and calls to it."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Prefcenter

NUMBER = "+14155550100"


def _check_voice(prefcenter: Prefcenter, **env: str) -> tuple[int, dict[str, object]]:
    result = prefcenter("check", NUMBER, "--channel", "voice", "--json", **env)
    return result.returncode, json.loads(result.stdout)[0]


def test_an_sms_opt_out_stops_marketing_calls_and_says_why(prefcenter: Prefcenter) -> None:
    assert prefcenter("suppress", NUMBER, "--channel", "sms", "--reason", "STOP").returncode == 0
    status, decision = _check_voice(prefcenter)
    assert status == 1
    assert decision["reason"] == "unsubscribed_global"
    assert decision["message"] == (
        "The person unsubscribed from all marketing on this channel. The opt-out was made "
        "on sms; PHONE_OPT_OUT=texts_and_calls makes a marketing opt-out on a number cover "
        "texts and calls to it."
    )
    transactional = prefcenter("check", NUMBER, "--channel", "voice", "--kind", "transactional")
    assert transactional.returncode == 0  # a marketing opt-out: service calls still go


def test_per_channel_keeps_each_channel_apart(prefcenter: Prefcenter) -> None:
    prefcenter("suppress", NUMBER, "--channel", "sms")
    status, decision = _check_voice(prefcenter, PREFCENTER_PHONE_OPT_OUT="channel")
    assert (status, decision["reason"]) == (0, "allowed")


def test_a_voice_topic_opt_out_covers_texts_about_that_topic(prefcenter: Prefcenter) -> None:
    prefcenter("suppress", NUMBER, "--channel", "voice", "--topic", "offers")
    offers = prefcenter("check", NUMBER, "--channel", "sms", "--topic", "offers")
    other = prefcenter("check", NUMBER, "--channel", "sms", "--topic", "news")
    assert (offers.returncode, other.returncode) == (1, 0)


def test_an_all_channels_opt_out_on_a_linked_address_covers_calls(
    prefcenter: Prefcenter,
) -> None:
    prefcenter("link-identities", "alice@example.com", NUMBER, "--second-channel", "sms")
    prefcenter("suppress", "alice@example.com", "--all-channels", "--reason", "everything")
    status, decision = _check_voice(prefcenter)
    assert (status, decision["reason"]) == (1, "unsubscribed_global")


def test_filter_of_numbers_for_calls_drops_sms_opt_outs(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter_sqlite("suppress", NUMBER, "--channel", "sms")
    result = prefcenter_sqlite(
        "filter", "-", "--channel", "voice", input=f"phone\n{NUMBER}\n+14155550101\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "phone\n+14155550101\n"


def test_a_bad_setting_is_named() -> None:
    from prefcenter.config import load_settings
    from prefcenter.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_settings({"phone_opt_out": "both"}, environ={}, generate_dev_keys=False)
    assert str(caught.value) == (
        "Setting PHONE_OPT_OUT has value 'both'; write texts_and_calls or channel."
    )


def test_sms_links_carry_no_mail_headers(prefcenter_sqlite: Prefcenter) -> None:
    result = prefcenter_sqlite("link", NUMBER, "--channel", "sms", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(data) == ["preferences", "url"]
    email = json.loads(prefcenter_sqlite("link", "ann@example.com", "--json").stdout)
    assert email["mailto"].endswith("?subject=unsubscribe")
    assert "List-Unsubscribe" in email
