"""STARTTLS for the SMTP sidecar: a server context from a certificate and key on disk.

Where the sidecar faces the internet itself, senders should be able to encrypt: with
``SMTP_TLS_CERT`` and ``SMTP_TLS_KEY`` set, EHLO offers STARTTLS (RFC 3207). TLS stays
optional, as it is between MTAs (opportunistic: a sender that cannot encrypt still
delivers). The files are read at start and again on ``SIGHUP``, so a renewed
certificate needs no restart; a reload that fails keeps the context in use and logs
an error.
"""

from __future__ import annotations

import ssl

from prefcenter.errors import ConfigError


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the chain in ``cert_file`` and its ``key_file``.

    Raises:
        ConfigError: a file cannot be read, or the key does not match the certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise ConfigError(
            f"Settings SMTP_TLS_CERT {cert_file!r} and SMTP_TLS_KEY {key_file!r} cannot be "
            f"used ({reason}); give a readable PEM chain and the private key that matches it.",
            name="smtp_tls_cert",
            value=cert_file,
        ) from None
    return context
