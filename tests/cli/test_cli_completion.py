"""The shell completion docs/cli.md shows works: the script loads and completes commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _complete(words: str, cword: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update(COMP_WORDS=words, COMP_CWORD=str(cword), _PREFCENTER_COMPLETE="bash_complete")
    result = subprocess.run(
        [sys.executable, "-m", "prefcenter"], env=env, capture_output=True, text=True, timeout=60
    )
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line]


def test_the_documented_lines_name_every_shell() -> None:
    text = DOCS.read_text()
    for shell in ("bash", "zsh", "fish"):
        assert re.search(rf"_PREFCENTER_COMPLETE={shell}_source prefcenter", text)


def test_commands_and_choices_complete() -> None:
    assert {"init", "check", "filter", "resubscribe"} <= set(_complete("prefcenter ", 1))
    assert _complete("prefcenter check x --channel ", 4) == ["email", "sms", "voice"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_defines_the_completion_function() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env["_PREFCENTER_COMPLETE"] = "bash_source"
    script = subprocess.run(
        [sys.executable, "-m", "prefcenter"], env=env, capture_output=True, text=True, timeout=60
    ).stdout
    assert "complete -o nosort -F _prefcenter_completion prefcenter" in script
