"""The house rules that a machine can check: module size, one reader of the environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "prefcenter"
MODULES = sorted(SOURCE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_module_stays_small(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    assert lines <= 450, f"{module.name} has {lines} lines; split it by concept"


def test_only_config_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(SOURCE))
        for path in MODULES
        if re.search(r"os\.environ|os\.getenv", path.read_text())
    ]
    assert readers == ["config.py"]
