"""Settings: precedence, parsing, word-for-word errors, masked secrets, dev keys."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import pytest

from prefcenter.config import FrequencyCap, Secret, Settings, load_settings, settings_table
from prefcenter.errors import ConfigError
from tests.conftest import make_settings


def test_defaults_run_on_one_machine() -> None:
    settings = load_settings(environ={}, generate_dev_keys=False)
    assert settings.database == "sqlite:///var/prefcenter.db"
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.mail_domain == "localhost"
    assert settings.frequency_cap == FrequencyCap(3, timedelta(days=7))


def test_arguments_beat_environment_beat_file(tmp_path: Path) -> None:
    config = tmp_path / "prefcenter.toml"
    config.write_text(
        'base_url = "https://file.example.com"\nmail_domain = "file.example.com"\n'
        'company_name = "File"\n[topics]\nweekly = "Weekly digest"\n'
    )
    env = {
        "PREFCENTER_CONFIG": str(config),
        "PREFCENTER_MAIL_DOMAIN": "env.example.com",
        "PREFCENTER_COMPANY_NAME": "Env",
    }
    settings = load_settings({"company_name": "Argument"}, environ=env, generate_dev_keys=False)
    assert settings.base_url == "https://file.example.com"
    assert settings.mail_domain == "env.example.com"
    assert settings.company_name == "Argument"
    assert settings.topics == {"weekly": "Weekly digest"}


def test_secrets_keep_rotation_order_and_are_masked() -> None:
    settings = load_settings(
        environ={
            "PREFCENTER_SECRET": "oldest-key-000000, middle-key-000000 ,newest-key-000000",
            "PREFCENTER_PEPPER": "pEpp-3r5Tw8yHn4Bq2aZ",
        },
        generate_dev_keys=False,
    )
    assert settings.signing_keys() == [
        b"oldest-key-000000", b"middle-key-000000", b"newest-key-000000"
    ]  # fmt: skip
    assert "newest" not in repr(settings)
    assert repr(Secret("x")) == "Secret('**********')"


CAP_FORM = "write COUNT/DURATION such as 3/7d or 10/1w (DURATION in s, m, h, d or w), or off."


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("fold_gmail", "maybe", "Setting FOLD_GMAIL has value 'maybe'; write true or false."),
        ("soft_bounce_limit", "-3", "Setting SOFT_BOUNCE_LIMIT has value '-3'; write a whole number of 0 or more."),
        ("exception_due", "soon", "Setting EXCEPTION_DUE has value 'soon'; write a duration like 90s, 48h or 7d."),
        ("frequency_cap", "3", f"Setting FREQUENCY_CAP has value '3'; {CAP_FORM}"),
        ("frequency_cap", "3/week", f"Setting FREQUENCY_CAP has value '3/week'; {CAP_FORM}"),
        ("frequency_cap", "many/7d", f"Setting FREQUENCY_CAP has value 'many/7d'; {CAP_FORM}"),
        ("log_level", "loud", "Setting LOG_LEVEL has value 'loud'; write debug, info, warning or error."),
        ("http", "8080", "Setting HTTP has value '8080'; write HOST:PORT such as 127.0.0.1:8080."),
        ("base_url", "prefs.example.com", "Setting BASE_URL has value 'prefs.example.com'; write an http(s):// URL."),
        ("brand_color", "blue", "Setting BRAND_COLOR has value 'blue'; write a colour like #1d4ed8."),
        ("topics", "weekly", "Setting TOPICS has item 'weekly'; write id=Label pairs separated by ';'."),
        ("topics", "weekly=Weekly news,offers=Offers", "Setting TOPICS has item 'weekly=Weekly news,offers=Offers'; write id=Label pairs separated by ';'."),
        ("console", "8081", "Setting CONSOLE has value '8081'; write HOST:PORT such as 127.0.0.1:8080."),
        ("console", "0.0.0.0:8080", "Setting CONSOLE has value '0.0.0.0:8080', the HTTP port; give the console a port of its own (the default is 127.0.0.1:8081) or leave it empty."),
        ("console_header_role", "boss", "Setting CONSOLE_HEADER_ROLE has value 'boss'; write viewer, agent or admin, or leave it empty to refuse names that are not operators."),
        ("console_nice", "20", "Setting CONSOLE_NICE has value '20'; write a niceness from 0 (the console gets as much CPU as the sidecars) to 19 (the least)."),
    ],
)  # fmt: skip
def test_bad_values_are_named_word_for_word(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={f"PREFCENTER_{name.upper()}": value}, generate_dev_keys=False)
    assert str(caught.value) == message
    assert caught.value.name == name


def test_the_console_can_be_turned_off() -> None:
    settings = load_settings(environ={"PREFCENTER_CONSOLE": ""}, generate_dev_keys=False)
    assert settings.console == ""
    assert settings_table()[0].name == "database"


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Setting 'databse' does not exist"):
        load_settings({"databse": "x"}, environ={}, generate_dev_keys=False)
    config = tmp_path / "c.toml"
    config.write_text('databse = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting 'databse'"):
        load_settings(environ={}, config_file=config, generate_dev_keys=False)


def test_missing_or_broken_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; fix PREFCENTER_CONFIG"):
        load_settings(environ={}, config_file=tmp_path / "none.toml", generate_dev_keys=False)
    broken = tmp_path / "broken.toml"
    broken.write_text("base_url = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(environ={}, config_file=broken, generate_dev_keys=False)


def test_dev_keys_are_generated_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = load_settings({"var_dir": str(tmp_path)}, environ={})
    second = load_settings({"var_dir": str(tmp_path)}, environ={})
    assert first.secret == second.secret
    assert first.pepper == second.pepper
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert "set PREFCENTER_SECRET in production" in caplog.text


def test_cap_can_be_turned_off() -> None:
    assert (
        load_settings({"frequency_cap": "off"}, environ={}, generate_dev_keys=False).frequency_cap
        is None
    )


def test_table_lists_every_setting_with_help() -> None:
    rows = settings_table()
    assert {row.name for row in rows} == set(Settings.__dataclass_fields__)
    for row in rows:
        assert re.fullmatch(r"PREFCENTER_[A-Z_]+", row.env)
        assert row.help.endswith(".")
    defaults = {row.name: row.default for row in rows}
    assert defaults["secret"] == defaults["pepper"] == "(generated in development)"
    assert defaults["api_keys"] == "(none: /v1 refuses every call)"


def test_var_dir_help_does_not_claim_the_database() -> None:
    # The default DATABASE is var/prefcenter.db relative to the working directory,
    # wherever VAR_DIR points.
    help_text = next(row for row in settings_table() if row.name == "var_dir").help
    assert "default database" not in help_text
    assert "working directory" in help_text


def test_log_level_is_accepted_in_any_case() -> None:
    assert load_settings({"log_level": "DEBUG"}, environ={}, generate_dev_keys=False)


GENERATE = 'generate one with python -c "import secrets; print(secrets.token_urlsafe(32))".'
KEEP_OLD = "Keep a shorter old key before it so links already sent keep working."


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("pepper", "x", f"Setting PEPPER is 1 byte long; it needs at least 16 bytes: {GENERATE}"),
        ("pepper", "fifteen-bytes!!", f"Setting PEPPER is 15 bytes long; it needs at least 16 bytes: {GENERATE}"),
        ("secret", "abc", f"Setting SECRET has a signing key 3 bytes long; it needs at least 16 bytes: {GENERATE} {KEEP_OLD}"),
        ("secret", "a-long-enough-old-key,abc", f"Setting SECRET has a signing key 3 bytes long (the last key, which signs); it needs at least 16 bytes: {GENERATE} {KEEP_OLD}"),
        ("secret", " , ", "Setting SECRET has no key in it, only commas and spaces; write at least one key, or leave it unset."),
        ("api_keys", ",", "Setting API_KEYS has no key in it, only commas and spaces; write at least one key, or leave it unset."),
    ],
)  # fmt: skip
def test_short_or_blank_keys_are_refused_without_showing_them(
    name: str, value: str, message: str
) -> None:
    environ = {"PREFCENTER_SECRET": "s3cr-Et7Kq9zLm2X", "PREFCENTER_PEPPER": "pEpp-3r5Tw8yHn4B"}
    environ[f"PREFCENTER_{name.upper()}"] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ, generate_dev_keys=False)
    assert str(caught.value) == message
    assert caught.value.name == name
    assert caught.value.value is None  # never the secret itself


def test_keys_of_16_bytes_are_enough() -> None:
    settings = load_settings(
        environ={"PREFCENTER_SECRET": "s3cr-Et7Kq9zLm2X", "PREFCENTER_PEPPER": "pEpp-3r5Tw8yHn4B"},
        generate_dev_keys=False,
    )
    assert settings.pepper_bytes() == b"pEpp-3r5Tw8yHn4B"


def test_a_short_old_key_still_verifies_links_already_sent() -> None:
    settings = load_settings(
        environ={
            "PREFCENTER_SECRET": "old," + "n3wK-eY7pQ2xLm9Z",
            "PREFCENTER_PEPPER": "pEpp-3r5Tw8yHn4B",
        },
        generate_dev_keys=False,
    )
    assert settings.signing_keys()[0] == b"old"


def test_generated_dev_keys_satisfy_the_minimum(tmp_path: Path) -> None:
    settings = load_settings({"var_dir": str(tmp_path)}, environ={})
    assert len(settings.pepper_bytes()) >= 16
    assert all(len(key) >= 16 for key in settings.signing_keys())


def test_a_short_dev_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "pepper").write_text("\n")  # e.g. left empty by a full disk
    with pytest.raises(ConfigError) as caught:
        load_settings({"var_dir": str(tmp_path), "secret": "s3cr-Et7Kq9zLm2X"}, environ={})
    assert str(caught.value) == (
        f"Development key file {str(tmp_path / 'pepper')!r} holds 0 bytes, fewer than 16; "
        "set PREFCENTER_PEPPER, or delete the file to generate a new one if no store uses it yet."
    )


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_unusable_var_dir_is_one_error_and_no_false_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    var_dir = tmp_path / where
    with pytest.raises(ConfigError) as caught:
        load_settings({"var_dir": str(var_dir)}, environ={})
    message = str(caught.value)
    assert message.startswith(
        f"Setting VAR_DIR is {str(var_dir)!r}, but the development key file "
        f"{str(var_dir / 'secret')!r} cannot be written ("
    )
    assert message.endswith(
        "); point PREFCENTER_VAR_DIR at a writable directory, "
        "or set PREFCENTER_SECRET and PREFCENTER_PEPPER."
    )
    assert caught.value.name == "var_dir"
    assert "generated" not in caplog.text


def test_short_api_keys_are_refused_without_showing_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, api_keys="a-long-enough-key-0123456789,short")
    message = str(caught.value)
    assert "entry 2" in message and "5 bytes" in message and "short" not in message
    # Hashes are checked for form elsewhere; their key's length cannot be known.
    make_settings(tmp_path, api_keys="sha256:" + hashlib.sha256(b"k").hexdigest())


def test_configured_topics_must_not_share_a_link_digest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'campaign-96255' and 'campaign-70249'"):
        make_settings(tmp_path, topics="campaign-70249=Spring;campaign-96255=Autumn")
