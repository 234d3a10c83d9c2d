"""README and getting-started: `prefcenter init`, and an env file whose keys a command makes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from prefcenter.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]


def _env_block(text: str) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    found = [block for block in blocks if "prefcenter.env <<EOF" in block]
    assert len(found) == 1
    return str(found[0])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_doc_creates_the_store_with_init(doc: Path) -> None:
    assert "prefcenter init" in doc.read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_production_env_file_is_generated_and_accepted(doc: Path, tmp_path: Path) -> None:
    script = _env_block(doc.read_text()).replace("/etc/prefcenter", str(tmp_path / "etc"))
    assert " /etc/" not in script  # nothing outside the test's directory is written
    subprocess.run(["bash", "-euc", script], check=True, timeout=30)
    target = tmp_path / "etc" / "prefcenter.env"
    assert target.stat().st_mode & 0o077 == 0  # only its owner may read the keys
    lines = [line for line in target.read_text().splitlines() if "=" in line]
    env = dict(line.split("=", 1) for line in lines)
    del env["PREFCENTER_CONFIG"]  # the TOML of sidecar/ is tested on its own
    settings = load_settings({"var_dir": str(tmp_path)}, environ=env, generate_dev_keys=False)
    assert settings.base_url.startswith("https://")
    assert len(settings.signing_keys()[0]) >= 32 and settings.pepper is not None
    assert settings.signing_keys()[0] != settings.pepper_bytes()
