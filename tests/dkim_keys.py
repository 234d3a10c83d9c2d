"""Throwaway DKIM keys and a resolver that serves their public halves (no real DNS)."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def write_rsa_key(directory: Path) -> tuple[Path, bytes]:
    """A 2048-bit RSA key file and its DNS TXT record."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "dkim-rsa.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def write_ed25519_key(directory: Path) -> tuple[Path, bytes]:
    """An Ed25519 seed file (base64) and its DNS TXT record (RFC 8463)."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    path = directory / "dkim-ed25519.key"
    path.write_bytes(base64.b64encode(seed))
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return path, b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)


def resolver(records: dict[str, bytes]):  # type: ignore[no-untyped-def]
    """A dkimpy ``dnsfunc`` answering TXT look-ups from ``records`` only."""

    def lookup(name: bytes | str, timeout: int = 5) -> bytes | None:
        key = name.decode() if isinstance(name, bytes) else name
        return records.get(key.rstrip("."))

    return lookup
