"""docs/cli.md and ``--help`` keep up with the commands that exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from prefcenter.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def command_paths(group: click.Group = main, prefix: str = "") -> list[str]:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path + " "))
        else:
            paths.append(path)
    return paths


def test_the_commands_the_issue_names_exist() -> None:
    expected = {
        "serve", "check", "suppress", "resubscribe", "filter", "history", "exceptions list",
        "exceptions show", "exceptions resolve", "report", "forget", "export", "link",
        "link-identities", "record-sent",
    }  # fmt: skip
    assert expected <= set(command_paths())


@pytest.mark.parametrize("path", command_paths())
def test_every_command_is_documented_with_an_example(path: str) -> None:
    text = DOCS.read_text()
    heading = f"### {path}\n"
    assert heading in text, f"docs/cli.md has no section '### {path}'"
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    examples = [line for line in section.splitlines() if line.startswith("$ prefcenter ")]
    assert any(path.split()[-1] in line for line in examples), f"no example in '### {path}'"


@pytest.mark.parametrize("path", command_paths())
def test_every_help_has_an_example(path: str) -> None:
    command: click.Command = main
    for part in path.split():
        assert isinstance(command, click.Group)
        command = command.commands[part]
    with click.Context(command, info_name=path) as ctx:
        help_text = command.get_help(ctx)
    example = help_text.split("Example", 1)[-1]
    assert "Example" in help_text
    assert "prefcenter " in example and path.split()[-1] in example


def test_help_runs_without_a_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prefcenter", "--help"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert "filter" in result.stdout
    assert not (tmp_path / "var").exists()


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, prefcenter.cli;"
        "bad = [m for m in ('starlette', 'uvicorn', 'aiosmtpd', 'jinja2', 'prefcenter.sidecar',"
        " 'psycopg') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
