"""docs/security.md stays honest: every test and file it cites as a proof exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "security.md"


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE))
    return names


def test_every_cited_test_exists() -> None:
    cited = set(re.findall(r"\b(test_\w+)`", DOC.read_text()))
    cited = {name for name in cited if not name.endswith("_py")}
    assert len(cited) >= 40
    assert sorted(cited - _defined_tests()) == []


def test_every_cited_file_exists() -> None:
    paths = set(re.findall(r"`((?:tests|bench)/[\w/]+\.py)", DOC.read_text()))
    assert paths
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []


def test_every_actor_of_the_threat_model_is_named() -> None:
    text = DOC.read_text()
    for actor in (
        "Recipient",
        "Link scanner",
        "Forger",
        "Mail provider",
        "Operator",
        "Database thief",
    ):
        assert f"| {actor}" in text
