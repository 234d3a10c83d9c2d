"""Development keys live beside the store they were made for, wherever the CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import one_error_line


def _run(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFCENTER_")}
    env.update(extra)
    return subprocess.run(
        [sys.executable, "-m", "prefcenter", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_cli_from_another_directory_uses_the_keys_beside_the_store(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    url = f"sqlite:///{home / 'data' / 'prefcenter.db'}"  # absolute: four slashes
    made = _run(home, "--database", url, "init")
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (home / "data").iterdir() if "prefcenter.db" not in p.name) == [
        "pepper", "secret"
    ]  # fmt: skip
    _run(home, "--database", url, "suppress", "ann@example.com", "--reason", "asked")
    checked = _run(elsewhere, "--database", url, "check", "ann@example.com")
    assert checked.returncode == 1, checked.stderr  # the same pepper: the opt-out is found
    assert list(elsewhere.iterdir()) == []  # no var/ made here


def test_a_pepper_from_elsewhere_names_var_dir_and_where_the_keys_are(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'prefcenter.db'}"
    assert _run(tmp_path, "--database", url, "init").returncode == 0
    other = tmp_path / "other-var"
    result = _run(
        tmp_path, "--database", url, "check", "ann@example.com", PREFCENTER_VAR_DIR=str(other)
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert "PREFCENTER_VAR_DIR" in line
    assert repr(str(other / "pepper")) in line
    assert repr(str(tmp_path / "data")) in line  # where this store's keys are
    assert not other.exists()  # no new keys made for a store they cannot open

    other.mkdir()
    (other / "pepper").write_text("another-pepper-Kq93mZx7Lp2w\n")
    mismatch = _run(
        tmp_path, "--database", url, "check", "ann@example.com", PREFCENTER_VAR_DIR=str(other)
    )
    assert mismatch.returncode == 2
    line = mismatch.stderr.splitlines()[-1]  # after the warning: a secret was generated
    assert f"development key file {str(other / 'pepper')!r}" in line
    assert f"this store's keys are in {str(tmp_path / 'data')!r}" in line


def test_init_is_named_in_the_no_such_store_error_and_global_options_go_anywhere(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    missing = _run(tmp_path, "check", "ann@example.com", "--database", url)
    assert missing.returncode == 2
    assert "create the store with `prefcenter init`" in one_error_line(missing)
    made = _run(tmp_path, "init", f"--database={url}")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[0] == f"store  {url}  ({tmp_path / 'store.db'})  created"
    assert lines[1].startswith(f"keys   development secret and pepper in {tmp_path};")
    again = _run(tmp_path, "init", "--database", url)
    assert again.stdout.splitlines()[0].endswith("ready (schema up to date)")
    assert _run(tmp_path, "check", "ann@example.com", "--database", url).returncode == 0
