"""``--database``/``--config`` after the command are moved to the front, nothing else moves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prefcenter.cli._app import hoist_global_options

WORDS = st.lists(
    st.text(min_size=1, max_size=8).filter(
        lambda w: w.split("=", 1)[0] not in ("--database", "--config", "--")
    ),
    max_size=6,
)


@given(WORDS)
def test_arguments_without_global_options_are_unchanged(args: list[str]) -> None:
    assert hoist_global_options(args) == args


@given(WORDS, WORDS, st.text(min_size=1, max_size=10), st.booleans())
def test_a_global_option_after_the_command_goes_first(
    before: list[str], after: list[str], value: str, joined: bool
) -> None:
    command = ["check", *before]
    option = [f"--database={value}"] if joined else ["--database", value]
    moved = hoist_global_options([*command, *option, *after])
    assert moved == [*option, *command, *after]


def test_after_a_double_dash_nothing_moves() -> None:
    args = ["filter", "--", "--database", "x"]
    assert hoist_global_options(args) == args
