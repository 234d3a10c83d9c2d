"""The deployment examples in sidecar/ stay true to the code: every setting, parseable values."""

from __future__ import annotations

import configparser
import re
import subprocess
import tomllib
from pathlib import Path

from prefcenter.config import ENV_PREFIX, load_settings, settings_table

SIDECAR = Path(__file__).resolve().parent.parent / "sidecar"


def _toml_names() -> set[str]:
    """Names set in prefcenter.toml, active or shown commented as ``# name = ...``."""
    text = (SIDECAR / "prefcenter.toml").read_text()
    active = set(tomllib.loads(text)["prefcenter"])
    commented = set(re.findall(r"^#\s*([a-z_]+)\s*=", text, re.MULTILINE))
    return active | commented


def test_example_toml_names_every_setting() -> None:
    missing = sorted({spec.name for spec in settings_table()} - _toml_names())
    assert missing == []


def test_example_toml_loads_with_the_real_loader(tmp_path: Path) -> None:
    settings = load_settings(
        {"var_dir": str(tmp_path)},
        environ={},
        config_file=SIDECAR / "prefcenter.toml",
        generate_dev_keys=False,
    )
    assert settings.mail_domain == "unsub.example.com"
    assert settings.topics["weekly"] == "Weekly digest"
    assert settings.frequency_cap is not None
    assert settings.frequency_cap.count == 3


def test_example_env_sets_only_real_settings() -> None:
    names = {spec.env for spec in settings_table()} | {ENV_PREFIX + "CONFIG"}
    text = (SIDECAR / "prefcenter.env").read_text()
    used = set(re.findall(r"^#?\s*(PREFCENTER_[A-Z_]+)=", text, re.MULTILINE))
    assert used
    assert used <= names


def test_example_env_loads_after_its_own_key_command(tmp_path: Path) -> None:
    text = (SIDECAR / "prefcenter.env").read_text()
    target = tmp_path / "prefcenter.env"
    target.write_text(text)
    block = text.split("# --- generate keys ---\n", 1)[1].split("# --- end ---", 1)[0]
    script = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    script = script.replace("/etc/prefcenter/prefcenter.env", str(target))
    subprocess.run(["bash", "-euc", script], check=True, timeout=30)
    env = {}
    for line in target.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    env["PREFCENTER_CONFIG"] = str(SIDECAR / "prefcenter.toml")
    settings = load_settings({"var_dir": str(tmp_path)}, environ=env, generate_dev_keys=False)
    assert len(settings.secret) == 1
    assert settings.pepper is not None
    assert settings.signing_keys()[0] != settings.pepper_bytes()


def test_systemd_unit_has_the_promised_options() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((SIDECAR / "prefcenter.service").read_text())
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert service["StateDirectory"] == "prefcenter"
    assert service["DynamicUser"] == "yes"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ExecStart"].endswith("prefcenter serve")


def test_containerfile_runs_unprivileged_with_a_health_check() -> None:
    text = (SIDECAR / "Containerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert re.search(r"^USER prefcenter$", text, re.MULTILINE)
    assert 'pip install ".[sidecar,postgres]"' in text
    assert "HEALTHCHECK" in text and "/readyz" in text  # a write commits (issue 20)
    assert 'VOLUME ["/app/var"]' in text


def _location(conf: str, prefix: str) -> str:
    match = re.search(r"location " + re.escape(prefix) + r" \{(.*?)\n    \}", conf, re.DOTALL)
    assert match, prefix
    return match.group(1)


def test_nginx_passes_one_click_through_uncached() -> None:
    conf = (SIDECAR / "nginx.conf").read_text()
    for prefix in ("/u/", "/p/"):
        block = _location(conf, prefix)
        assert "proxy_pass http://prefcenter;" in block
        assert "return" not in block and "rewrite" not in block and "auth_" not in block
        assert "proxy_no_cache 1;" in block and "no-store" in block


def test_postfix_routes_the_three_mailboxes_to_the_sidecar() -> None:
    transport = (SIDECAR / "postfix" / "prefcenter_transport").read_text()
    routes = dict(
        line.split() for line in transport.splitlines() if line.strip() and not line.startswith("#")
    )
    assert routes == {
        f"{box}@unsub.example.com": "smtp:[127.0.0.1]:2525"
        for box in ("unsubscribe", "bounces", "fbl")
    }
    main_cf = (SIDECAR / "postfix" / "main.cf").read_text()
    assert re.search(r"^recipient_delimiter = \+$", main_cf, re.MULTILINE)
    assert "transport_maps = hash:/etc/postfix/prefcenter_transport" in main_cf
