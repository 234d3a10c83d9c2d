"""docs/config.md is generated from the settings table and must match it exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefcenter.config import SettingSpec, settings_table
from tools import docs_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def test_committed_config_doc_equals_generated_output() -> None:
    # Fails after a setting changes until `python -m tools.docs_config` is run.
    assert DOC.read_text(encoding="utf-8") == docs_config.render()


def test_every_setting_has_a_row_with_env_name_and_default() -> None:
    text = docs_config.render()
    for spec in settings_table():
        assert f"| `{spec.env}` | `{spec.name}` | `{spec.default}` |" in text


def test_a_new_setting_changes_the_output() -> None:
    extra = SettingSpec("new_one", "PREFCENTER_NEW_ONE", "int", "5", "A new knob.")
    assert "PREFCENTER_NEW_ONE" in docs_config.render([*settings_table(), extra])
    assert "PREFCENTER_NEW_ONE" not in docs_config.render()


def test_pipes_in_help_do_not_break_the_table() -> None:
    spec = SettingSpec("x", "PREFCENTER_X", "str", "a|b", "one | two")
    row = docs_config.render([spec]).splitlines()
    assert "| `PREFCENTER_X` | `x` | `a\\|b` | one \\| two |" in row


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "config.md"
    assert docs_config.main(["--check", str(target)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert docs_config.main([str(target)]) == 0
    assert docs_config.main(["--check", str(target)]) == 0
