"""Issue 20 item 12: the SMTP sidecar offers STARTTLS and reloads its certificate on SIGHUP.

A real ``prefcenter serve`` gets a certificate made here with ``cryptography``;
``smtplib.starttls()`` checks it against that certificate alone, then sends a message
over the encrypted session. A new certificate written over the files is in use after
``SIGHUP``, without a restart. Without a certificate, STARTTLS is not offered.
"""

from __future__ import annotations

import datetime
import ipaddress
import signal
import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.reliability.server import MAIL_DOMAIN, ServerProcess, server_values

PATIENCE = 10.0


def _certificate(cert_file: Path, key_file: Path, name: str) -> bytes:
    """A self-signed certificate for 127.0.0.1 named ``name``; its DER bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, Path, bytes]]:
    cert_file, key_file = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    first = _certificate(cert_file, key_file, "first")
    values = server_values(
        f"sqlite:///{tmp_path / 'prefcenter.db'}",
        tmp_path,
        smtp_tls_cert=str(cert_file),
        smtp_tls_key=str(key_file),
    )
    server = ServerProcess(values, tmp_path / "server.log")
    server.start()
    try:
        yield server, cert_file, key_file, first
    finally:
        server.stop()


def _served_certificate(port: int, cert_file: Path) -> bytes:
    """Connect, STARTTLS trusting only ``cert_file``, send one message; the server's cert."""
    context = ssl.create_default_context(cafile=str(cert_file))
    with smtplib.SMTP("127.0.0.1", port, timeout=PATIENCE) as client:
        client.ehlo("client.example.org")
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=context)
        assert code == 220
        client.ehlo("client.example.org")
        message = b"Subject: hello\r\nMessage-ID: <tls-1@x>\r\n\r\nover TLS\r\n"
        client.sendmail("someone@example.org", [f"postmaster@{MAIL_DOMAIN}"], message)
        sock = client.sock
        assert isinstance(sock, ssl.SSLSocket)
        served = sock.getpeercert(binary_form=True)
        assert served is not None
        return served


def test_starttls_is_offered_and_a_renewed_certificate_loads_on_sighup(
    tls_server: tuple[ServerProcess, Path, Path, bytes],
) -> None:
    server, cert_file, key_file, first = tls_server
    assert _served_certificate(server.smtp_port, cert_file) == first
    second = _certificate(cert_file, key_file, "second")  # a renewal, in place
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + PATIENCE
    while True:  # wait for the reload to happen (a new session takes the new pair)
        try:
            if _served_certificate(server.smtp_port, cert_file) == second:
                break
        except ssl.SSLCertVerificationError:
            pass  # still the first certificate, which the new file no longer trusts
        assert time.monotonic() < deadline, "the certificate was not reloaded"
        time.sleep(0.1)
    assert server.proc.poll() is None  # still the same process
    assert "STARTTLS certificate reloaded" in server.logs()


def test_without_a_certificate_starttls_is_not_offered(tmp_path: Path) -> None:
    server = ServerProcess(
        server_values(f"sqlite:///{tmp_path / 'prefcenter.db'}", tmp_path), tmp_path / "log"
    )
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=PATIENCE) as client:
            client.ehlo("client.example.org")
            assert not client.has_extn("starttls")
    finally:
        server.stop()
