"""Load the hand-written mail samples in tests/data/mail with their placeholders filled."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "mail"
DEFAULTS = {
    "RCPT": "alice@example.org",
    "MAIL_DOMAIN": "unsub.example.com",
    "TOKEN": "a" * 50,
    "BOUNCE_TOKEN": "b" * 50,
    "BYSTANDER": "bystander@example.net",
}


def load_sample(name: str, **values: str) -> bytes:
    """The sample's bytes with ``{RCPT}``, ``{TOKEN}``... replaced (defaults above)."""
    raw = (DATA / name).read_bytes()
    for key, value in {**DEFAULTS, **values}.items():
        raw = raw.replace(f"{{{key}}}".encode(), value.encode())
    return raw


def sample_names(prefix: str = "") -> list[str]:
    """Every sample file name starting with ``prefix``."""
    return sorted(p.name for p in DATA.glob(f"{prefix}*.eml"))
