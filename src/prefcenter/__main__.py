"""``python -m prefcenter``: the same as the ``prefcenter`` command."""

from __future__ import annotations

from prefcenter.cli import main

if __name__ == "__main__":
    main(prog_name="prefcenter")
