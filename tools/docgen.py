"""Writing a generated reference page, or checking that the committed one is current."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def write_or_check(
    render: Callable[[], str], default_target: str, command: str, argv: Sequence[str] | None
) -> int:
    """Write ``render()`` to the target page, or with ``--check`` compare it; an exit status.

    Args:
        render: produces the page text.
        default_target: the page written when no path is given.
        command: how to regenerate, named in the "stale" message.
        argv: command-line arguments; ``sys.argv[1:]`` when None.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    target = Path(paths[0] if paths else default_target)
    text = render()
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is stale; run: {command}", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return 0
