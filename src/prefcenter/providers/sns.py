"""Amazon SNS message signatures: the signing certificate, pinned, fetched once, cached.

SNS signs every message it delivers over HTTPS (SignatureVersion 1: RSA with SHA-1,
2: RSA with SHA-256) over a canonical string of some of the message's fields, and names
the certificate that verifies it in ``SigningCertURL``. Anyone can send a message that
names their own certificate, so the URL must be ``https://sns.<region>.amazonaws.com/``
and end in ``.pem``; the certificate is fetched over verified TLS from that host, and
kept. The fetcher is injectable: tests serve certificates made by a local authority.

With a trust store (``SES_TRUST_BUNDLE``: Amazon's roots and the intermediates that
issue SNS signing certificates), the certificate must also chain to it
(``cryptography.x509.verification``; the CA certificates are held to the Web PKI's
rules, the signing certificate to none beyond its signature and dates). SNS serves the
signing certificate alone, without its intermediate, so the bundle must hold the
intermediates too; without a bundle the pinned host and its verified TLS are the trust.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from prefcenter.errors import WebhookMalformed, WebhookUnauthorized

#: Fetches a URL's body: ``fetch(url) -> bytes``. Raises OSError when it cannot.
Fetcher = Callable[[str], bytes]

#: The only hosts a SigningCertURL or SubscribeURL may name: ``sns.<region>.amazonaws.com``,
#: GovCloud's regions included, and the China partition's ``sns.<region>.amazonaws.com.cn``
#: (the pattern of AWS's own sns-validator, with the region spelled out).
HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com(?:\.cn)?")
#: Fields signed, in order, by message type (the SNS developer guide,
#: "Verifying the signatures of Amazon SNS messages").
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
#: Longest certificate accepted from the fetcher.
MAX_CERTIFICATE = 64 * 1024


def pinned(url: str) -> bool:
    """True when ``url`` is ``https://sns.<region>.amazonaws.com/...`` with no port or user."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and port is None
        and parts.username is None
        and HOST.fullmatch(parts.hostname or "") is not None
    )


def fetch_https(url: str) -> bytes:
    """GET ``url`` over verified TLS with a 10 s timeout (the default fetcher)."""
    if not pinned(url):
        raise OSError(
            f"Refusing to fetch {url[:200]!r}: not an https://sns.<region>.amazonaws.com/ URL."
        )
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (pinned above)
        body: bytes = response.read(MAX_CERTIFICATE + 1)
    return body


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical text SNS signed for ``message`` (name, newline, value, newline...).

    Raises:
        WebhookMalformed: an unknown ``Type`` or a signed field that is not text.
    """
    kind = message.get("Type")
    names = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if names is None:
        raise WebhookMalformed(
            f"SNS message Type {str(kind)[:40]!r} is not one SNS sends.", provider="ses"
        )
    lines: list[str] = []
    for name in names:
        value = message.get(name)
        if value is None and name == "Subject":
            continue  # only a notification published with a subject signs one
        if not isinstance(value, str):
            raise WebhookMalformed(
                f"SNS message field {name!r} is missing or not text.", provider="ses"
            )
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode()


def trust_store(pem: bytes) -> Store:
    """The certificate authorities in ``pem`` (one or more PEM certificates) as a store.

    Raises:
        ValueError: no certificate could be read.
    """
    certificates = x509.load_pem_x509_certificates(pem)
    if not certificates:
        raise ValueError("no PEM certificate")
    return Store(certificates)


class CertificateCache:
    """SNS signing certificates by URL: fetched once through ``fetcher``, then kept.

    Thread-safe; at most ``limit`` certificates (SNS rotates them rarely). With
    ``trust``, a certificate must chain to it as well (see the module's docstring).
    """

    def __init__(
        self, fetcher: Fetcher = fetch_https, *, limit: int = 64, trust: Store | None = None
    ) -> None:
        self._fetcher = fetcher
        self._limit = limit
        self._trust = trust
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def cached(self, url: str) -> rsa.RSAPublicKey | None:
        """The key for ``url`` if it was fetched already (no I/O: safe on the event loop)."""
        with self._lock:
            return self._keys.get(url)

    def key(self, url: str, now: datetime | None = None) -> rsa.RSAPublicKey:
        """The RSA public key of the certificate at ``url`` (may fetch: call it in a thread).

        Raises:
            WebhookUnauthorized: the URL is not pinned, the certificate is not RSA, has
                expired or is not yet valid.
            OSError: the certificate could not be fetched (the sender should retry).
        """
        if not pinned(url) or not url.endswith(".pem"):
            raise WebhookUnauthorized(
                f"SigningCertURL {url[:200]!r} is not https://sns.<region>.amazonaws.com/...pem; "
                "only Amazon SNS may sign these messages.",
                provider="ses",
            )
        found = self.cached(url)
        if found is not None:
            return found
        body = self._fetcher(url)
        if len(body) > MAX_CERTIFICATE:
            raise WebhookUnauthorized(
                f"The certificate at {url[:200]!r} is too large.", provider="ses"
            )
        try:
            certificate = x509.load_pem_x509_certificate(body)
        except ValueError:
            raise WebhookUnauthorized(
                f"The body at {url[:200]!r} is not a PEM certificate.", provider="ses"
            ) from None
        moment = now or datetime.now(UTC)
        if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
            raise WebhookUnauthorized(
                f"The SNS certificate at {url[:200]!r} is not valid now.", provider="ses"
            )
        if self._trust is not None:
            self._chain(certificate, moment, url)
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookUnauthorized(
                f"The SNS certificate at {url[:200]!r} has no RSA key.", provider="ses"
            )
        with self._lock:
            if len(self._keys) < self._limit:
                self._keys[url] = key
        return key

    def _chain(self, certificate: x509.Certificate, moment: datetime, url: str) -> None:
        """Raise WebhookUnauthorized unless ``certificate`` chains to the trust store."""
        assert self._trust is not None
        verifier = (
            PolicyBuilder()
            .store(self._trust)
            .time(moment)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                # A signing certificate, not a TLS server's: no name or usage required.
                ee_policy=ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(certificate, [])
        except VerificationError as error:
            raise WebhookUnauthorized(
                f"The SNS certificate at {url[:200]!r} does not chain to SES_TRUST_BUNDLE "
                f"({str(error)[:120]}); add the intermediate that issued it to the bundle.",
                provider="ses",
            ) from None


def verify(message: Mapping[str, Any], key: rsa.RSAPublicKey) -> None:
    """Check ``message``'s ``Signature`` with ``key`` (SignatureVersion 1 or 2).

    Raises:
        WebhookUnauthorized: the signature does not match, or the version is unknown.
        WebhookMalformed: the message lacks the fields SNS signs.
    """
    version = message.get("SignatureVersion")
    algorithm = _HASHES.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise WebhookUnauthorized(
            f"SNS SignatureVersion {str(version)[:10]!r} is not 1 or 2.", provider="ses"
        )
    signature = message.get("Signature")
    try:
        raw = base64.b64decode(signature if isinstance(signature, str) else "", validate=True)
    except binascii.Error:
        raw = b""
    text = string_to_sign(message)
    try:
        key.verify(raw, text, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise WebhookUnauthorized(
            "The SNS message signature does not match its certificate; nothing was changed.",
            provider="ses",
        ) from None


__all__ = [
    "HOST",
    "SIGNED_FIELDS",
    "CertificateCache",
    "Fetcher",
    "fetch_https",
    "pinned",
    "string_to_sign",
    "trust_store",
    "verify",
]
