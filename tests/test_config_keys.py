"""Keys anyone could read (shipped examples, placeholders) or guess are refused at start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prefcenter.config import load_settings
from prefcenter.errors import ConfigError

SIDECAR = Path(__file__).resolve().parent.parent / "sidecar"
GOOD = "Vq3kP9sR2mXz7LwN4tYb"
GENERATE = 'generate one with python -c "import secrets; print(secrets.token_urlsafe(32))".'


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("secret", "replace-with-32-random-bytes-key-1"),
        ("pepper", "replace-with-32-random-bytes-pepper"),
        ("secret", "changeme-changeme-changeme"),
        ("pepper", "your-pepper-goes-here-please"),
        ("secret", GOOD + ",placeholder-key-0123456789"),  # an old key is forgeable too
        ("api_keys", "sha256:" + "0" * 64),
    ],
)
def test_placeholder_keys_are_refused_naming_the_setting_and_the_command(
    name: str, value: str
) -> None:
    environ = {"PREFCENTER_SECRET": GOOD, "PREFCENTER_PEPPER": GOOD[::-1]}
    environ[f"PREFCENTER_{name.upper()}"] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ, generate_dev_keys=False)
    message = str(caught.value)
    assert message.startswith(f"Setting {name.upper()} ")
    assert "placeholder" in message
    assert message.endswith(GENERATE) or message.endswith(
        'write sha256:HEX of a key made with python -c "import secrets; '
        'print(secrets.token_urlsafe(32))".'
    )
    assert value.split(",")[-1] not in message  # never the value itself
    assert caught.value.name == name


@pytest.mark.parametrize(
    ("name", "value"),
    [("secret", "s" * 32), ("pepper", "abababababababababab"), ("secret", "0123456" * 4)],
)
def test_low_entropy_keys_are_refused(name: str, value: str) -> None:
    environ = {"PREFCENTER_SECRET": GOOD, "PREFCENTER_PEPPER": GOOD[::-1]}
    environ[f"PREFCENTER_{name.upper()}"] = value
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ, generate_dev_keys=False)
    distinct = len(set(value))
    assert str(caught.value) == (
        f"Setting {name.upper()} uses only {distinct} different characters, too few to be "
        f"random; {GENERATE}"
    )


def test_every_key_value_the_project_ships_is_refused() -> None:
    """Any key written in a shipped file (docs, examples, sidecar/) cannot be used."""
    root = SIDECAR.parent
    shipped = [*root.glob("docs/*.md"), *SIDECAR.iterdir(), root / "README.md"]
    shipped += [*root.glob("examples/*")]
    pattern = re.compile(r"PREFCENTER_(SECRET|PEPPER)=['\"]?([^\s'\"$`%\\=]{16,})")
    seen = 0
    for path in shipped:
        if not path.is_file():
            continue
        for name, value in pattern.findall(path.read_text(errors="replace")):
            seen += 1
            environ = {"PREFCENTER_SECRET": GOOD, "PREFCENTER_PEPPER": GOOD[::-1]}
            environ[f"PREFCENTER_{name}"] = value.split(",")[-1]
            with pytest.raises(ConfigError):
                load_settings(environ=environ, generate_dev_keys=False)
    assert seen >= 0  # docs may show none; each one shown is refused above


def test_the_example_env_file_ships_no_key() -> None:
    text = (SIDECAR / "prefcenter.env").read_text()
    active = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [line for line in active if re.match(r"PREFCENTER_(SECRET|PEPPER|API_KEYS)=", line)]
    assert "secrets.token_urlsafe(32)" in text


def test_random_keys_pass() -> None:
    settings = load_settings(
        environ={"PREFCENTER_SECRET": GOOD, "PREFCENTER_PEPPER": GOOD[::-1]},
        generate_dev_keys=False,
    )
    assert settings.pepper_bytes() == GOOD[::-1].encode()
