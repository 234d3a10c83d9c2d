"""Settings: precedence, parsing, word-for-word errors, masked secrets, dev keys."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from prefcenter.config import FrequencyCap, Secret, Settings, load_settings, settings_table
from prefcenter.errors import ConfigError


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
        environ={"PREFCENTER_SECRET": "oldest, middle ,newest", "PREFCENTER_PEPPER": "p" * 20},
        generate_dev_keys=False,
    )
    assert settings.signing_keys() == [b"oldest", b"middle", b"newest"]
    assert "newest" not in repr(settings)
    assert repr(Secret("x")) == "Secret('**********')"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("fold_gmail", "maybe", "Setting FOLD_GMAIL has value 'maybe'; write true or false."),
        ("soft_bounce_limit", "-3", "Setting SOFT_BOUNCE_LIMIT has value '-3'; write a whole number of 0 or more."),
        ("exception_due", "soon", "Setting EXCEPTION_DUE has value 'soon'; write a duration like 90s, 48h or 7d."),
        ("frequency_cap", "3", "Setting FREQUENCY_CAP has value '3'; write COUNT/DURATION such as 3/7d."),
        ("http", "8080", "Setting HTTP has value '8080'; write HOST:PORT such as 127.0.0.1:8080."),
        ("base_url", "prefs.example.com", "Setting BASE_URL has value 'prefs.example.com'; write an http(s):// URL."),
        ("brand_color", "blue", "Setting BRAND_COLOR has value 'blue'; write a colour like #1d4ed8."),
        ("topics", "weekly", "Setting TOPICS has item 'weekly'; write id=Label pairs separated by ';'."),
    ],
)  # fmt: skip
def test_bad_values_are_named_word_for_word(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={f"PREFCENTER_{name.upper()}": value}, generate_dev_keys=False)
    assert str(caught.value) == message
    assert caught.value.name == name


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
    assert "generated" in next(row for row in rows if row.name == "secret").default
