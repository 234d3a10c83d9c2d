"""Real keys and signatures for the provider tests, made here with ``cryptography``.

- :class:`LocalCA`: a certificate authority and an SNS signing certificate it issued,
  served by :meth:`LocalCA.fetch` at an ``https://sns.<region>.amazonaws.com/`` URL;
- SendGrid: an ECDSA P-256 key pair (the public half is what Mail Settings shows);
- Mailgun, Twilio, Standard Webhooks: HMAC, computed here independently of the code
  under test, from the providers' documentation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

DATA = Path(__file__).resolve().parent.parent / "data" / "providers"
REGION = "eu-west-1"
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:ses-feedback"
CERT_URL = (
    f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
)


def load(name: str) -> Any:
    """A recorded payload from tests/data/providers/."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


class LocalCA:
    """A local authority and the SNS signing certificate it issued (RSA 2048)."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prefcenter test CA")])
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)  # the Web PKI asks it of a CA
            .sign(self.ca_key, hashes.SHA256())
        )
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")]))
            .issuer_name(ca_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.ca_key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        #: The authority's own certificate, as a trust bundle holds it.
        self.ca_pem = self.ca.public_bytes(serialization.Encoding.PEM)
        #: Every URL fetched, in order (certificates and subscription confirmations).
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        """The injectable fetcher: the certificate at CERT_URL, "confirmed" elsewhere."""
        self.fetched.append(url)
        if url == CERT_URL:
            return self.pem
        if "Action=ConfirmSubscription" in url:
            return b"<ConfirmSubscriptionResponse/>"
        raise OSError(f"nothing at {url}")

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        """``message`` with SigningCertURL, SignatureVersion and Signature added.

        The canonical string is built here from the SNS developer guide's field lists.
        """
        message = {**message, "SigningCertURL": CERT_URL, "SignatureVersion": version}
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = [
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        text = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return message


def sns_notification(inner: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    """An unsigned SNS Notification envelope carrying an SES notification."""
    return {
        "Type": "Notification",
        "MessageId": message_id or os.urandom(16).hex(),
        "TopicArn": TOPIC_ARN,
        "Message": json.dumps(inner),
        "Timestamp": "2026-11-30T10:41:03.000Z",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC_ARN}:1",
    }


def sns_confirmation() -> dict[str, Any]:
    """An unsigned SNS SubscriptionConfirmation."""
    token = os.urandom(32).hex()
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": os.urandom(16).hex(),
        "Token": token,
        "TopicArn": TOPIC_ARN,
        "Message": f"You have chosen to subscribe to the topic {TOPIC_ARN}.",
        "SubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC_ARN}&Token={token}",
        "Timestamp": "2026-11-30T10:00:00.000Z",
    }


class SendGridKey:
    """An ECDSA P-256 key pair, as SendGrid's Signed Event Webhook makes one."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        #: What Mail Settings shows: base64 DER.
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        """The two headers SendGrid sends with ``body``."""
        stamp = timestamp or str(int(time.time()))
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "content-type": "application/json",
        }


def mailgun_body(
    key: str, event: dict[str, Any], *, timestamp: int | None = None, token: str | None = None
) -> bytes:
    """A Mailgun webhook body: ``signature`` (HMAC-SHA256 of timestamp+token) and the event."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or os.urandom(25).hex()
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": stamp, "token": token, "signature": signature},
            "event-data": event,
        }
    ).encode()


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL and the sorted name+value pairs."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def standard_headers(
    secret: str, body: bytes, message_id: str, timestamp: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers: v1 = base64 HMAC-SHA256 of ``id.timestamp.body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }
