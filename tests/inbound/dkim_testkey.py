"""A test DKIM key pair and the DNS answer that publishes it, for dkimpy."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class DkimTestKey:
    """An RSA key, its selector and domain, and a resolver serving its public half."""

    domain: str
    selector: str
    private_pem: bytes
    txt: bytes

    def resolver(self) -> Callable[..., bytes | None]:
        """A dkimpy ``dnsfunc`` that knows only this key's TXT record."""
        name = f"{self.selector}._domainkey.{self.domain}.".encode()

        def dnsfunc(query: bytes, timeout: float = 5) -> bytes | None:
            return self.txt if query.lower().rstrip(b".") == name.rstrip(b".") else None

        return dnsfunc

    def sign(self, message: bytes, domain: str | None = None) -> bytes:
        """``message`` with a DKIM-Signature by this key (``d=`` may be overridden)."""
        signature = dkim.sign(
            message,
            self.selector.encode(),
            (domain or self.domain).encode(),
            self.private_pem,
            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        )
        return bytes(signature) + message


def make_key(domain: str = "example.org", selector: str = "s2026") -> DkimTestKey:
    """A fresh 1024-bit key (the smallest dkimpy accepts; fast enough for tests)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    txt = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    return DkimTestKey(domain, selector, pem, txt)
