"""The docs stay true: every command, setting and public name is documented; the code runs."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import prefcenter
from prefcenter.center import PreferenceCenter
from prefcenter.cli import main
from prefcenter.config import ENV_PREFIX, settings_table
from tests.live_sidecar import Live, running_sidecar
from tools import docs_api

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _commands(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_cli_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = list(_commands(main))
    assert "migrate" in commands and "serve" in commands
    missing = [c for c in commands if f"prefcenter {c}" not in text and f"### {c}" not in text]
    assert missing == []


def test_every_environment_variable_is_documented() -> None:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    in_code = set()
    for path in (ROOT / "src" / "prefcenter").rglob("*.py"):
        in_code |= set(re.findall(r"PREFCENTER_[A-Z][A-Z_]*[A-Z]", path.read_text()))
    names = in_code | {spec.env for spec in settings_table()} | {ENV_PREFIX + "CONFIG"}
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert missing == []


def test_every_public_name_and_center_method_is_in_the_api_reference() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in prefcenter.__all__:
        assert f"### `{name}" in text, name
    methods = [name for name, _ in docs_api.public_methods(PreferenceCenter)]
    assert {"check", "filter", "stamp", "suppress", "transaction", "forget"} <= set(methods)
    for name in methods:
        assert f"#### `{name}" in text, name


def test_committed_api_reference_equals_generated_output() -> None:
    # Fails after a public signature or docstring changes until
    # `python -m tools.docs_api` is run.
    assert (DOCS / "api.md").read_text(encoding="utf-8") == docs_api.render()


def test_design_rules_name_tests_that_exist() -> None:
    text = (DOCS / "design.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(named) > 20
    missing = []
    for path, test in named:
        source = ROOT / path
        if not source.exists() or not re.search(
            rf"^(async )?def {test}\(", source.read_text(), re.M
        ):
            missing.append(f"{path}::{test}")
    assert missing == []


def test_docs_link_only_to_files_that_exist() -> None:
    broken = []
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert broken == []


def test_docs_index_lists_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_sidecar(tmp_path_factory.mktemp("docs")) as sidecar:
        yield sidecar


def test_getting_started_code_runs(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    blocks = [body for lang, body in FENCE.findall(text) if lang == "python"]
    assert len(blocks) >= 3
    for name, value in live.env.items():
        if name.startswith("PREFCENTER_"):
            monkeypatch.setenv(name, value)
    for name in ("PREFCENTER_DKIM_DOMAIN", "PREFCENTER_DKIM_KEY_FILE"):
        monkeypatch.delenv(name)  # the guide's reader has no DKIM key yet
    monkeypatch.setenv("PREFCENTER_FREQUENCY_CAP", "3/7d")
    monkeypatch.chdir(live.tmp)
    namespace: dict[str, object] = {"__name__": "__getting_started__"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for block in blocks:
            exec(compile(block, "getting-started.md", "exec"), namespace)
    lines = output.getvalue().splitlines()
    assert lines[0].startswith(f"<{live.base_url}/u/")
    assert lines[1] == "List-Unsubscribe=One-Click"
    assert "True allowed" in lines
    assert "['alice@example.com', 'bob@example.com']" in lines
    assert "200" in lines
    assert "False unsubscribed_topic one-click" in lines
    assert "['suppress']" in lines
