"""The house rules that a machine can check: module size, one reader of the environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "prefcenter"
MODULES = sorted(SOURCE.rglob("*.py"))


#: Modules past LOOK_AGAIN lines, each with why it is still one concept (STYLE.md: split
#: by concept, never to meet a line count).
LONG_MODULES: dict[str, str] = {
    "changes/writer.py": "Changes: every change of mind, written one way (the audit event "
    "first, then the state); one method per change a person can make, the ledger and the "
    "review queue already delegated to their modules.",
}
LOOK_AGAIN = 600


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_a_long_module_says_why_it_is_one_concept(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    name = str(module.relative_to(SOURCE))
    assert lines <= LOOK_AGAIN or name in LONG_MODULES, (
        f"{name} has {lines} lines; look again: split it if it holds two concepts, or add it "
        "to LONG_MODULES with the reason it is one"
    )


def test_only_config_reads_the_environment() -> None:
    readers = [
        str(path.relative_to(SOURCE))
        for path in MODULES
        if re.search(r"os\.environ|os\.getenv", path.read_text())
    ]
    assert readers == ["config/loading.py"]


def test_no_two_test_modules_share_a_name() -> None:
    """pytest imports test modules by their base name (the suites have no __init__.py):
    a second ``test_worker.py`` in another folder stops the whole run at collection."""
    tests = Path(__file__).resolve().parent
    names = [
        path.name for path in tests.rglob("*.py") if path.name not in ("conftest.py", "__init__.py")
    ]
    assert sorted({name for name in names if names.count(name) > 1}) == []
