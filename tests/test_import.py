"""``import prefcenter`` stays light: the library never pulls in the sidecar's servers."""

from __future__ import annotations

import subprocess
import sys

import prefcenter


def test_import_does_not_load_servers() -> None:
    code = (
        "import sys, prefcenter, prefcenter.center;"
        "bad = [m for m in ('starlette', 'uvicorn', 'aiosmtpd', 'jinja2') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_names_exist() -> None:
    for name in prefcenter.__all__:
        assert hasattr(prefcenter, name), name
