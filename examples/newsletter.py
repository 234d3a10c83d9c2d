#!/usr/bin/env python3
"""Send a newsletter with smtplib: filter the list, stamp each message, record each send.

    python examples/newsletter.py recipients.txt --topic weekly --relay 127.0.0.1:25

Settings (database, keys, DKIM, mail domain) come from PREFCENTER_* variables or a
PREFCENTER_CONFIG file, exactly as the sidecar reads them; --database overrides one.
Every message gets List-Unsubscribe (one-click URL and mailto), List-Unsubscribe-Post,
List-Id and, when PREFCENTER_DKIM_* is set, a DKIM signature covering them. Its
envelope sender is the recipient's own VERP bounce address, so a bounce finds its way
back to the right person. Prints one JSON line: how many were sent and why others not.
"""

from __future__ import annotations

import argparse
import json
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from prefcenter.center import PreferenceCenter


def build(center: PreferenceCenter, recipient: str, topic: str, sender: str) -> EmailMessage:
    """One personalised message, stamped last (the DKIM signature must see the final form)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"Your {topic} newsletter"
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    preferences = center.preferences_url(recipient, topic)
    message.set_content(
        f"Hello,\n\nThis week's news.\n\nFewer emails or other topics: {preferences}\n"
        f"Unsubscribe: {center.unsubscribe_url(recipient, topic)}\n"
    )
    return center.stamp(message, recipient, topic)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipients", help="file with one address per line")
    parser.add_argument("--topic", default="weekly")
    parser.add_argument("--sender", default="news@example.com", help="the From address")
    parser.add_argument("--relay", default=None, help="HOST:PORT of the SMTP relay; "
                        "default: PREFCENTER_NOTIFY_RELAY (127.0.0.1:25)")  # fmt: skip
    parser.add_argument("--database", default=None, help="store URL; default: PREFCENTER_DATABASE")
    args = parser.parse_args()

    overrides = {"database": args.database} if args.database else {}
    with open(args.recipients, encoding="utf-8") as handle:
        addresses = [line.strip() for line in handle if line.strip()]

    with PreferenceCenter.from_env(**overrides) as center:
        center.links.dkim_key()  # an unusable DKIM key file fails here, before any work
        result = center.filter(addresses, args.topic)  # suppressed, invalid, duplicate: out
        host, _, port = (args.relay or center.settings.notify_relay).rpartition(":")
        try:
            smtp = smtplib.SMTP(host, int(port), timeout=30)
        except OSError as error:  # nothing listens, unknown host, timeout
            raise SystemExit(
                f"Cannot reach the SMTP relay {host}:{port} ({error.strerror or error}); "
                "pass --relay HOST:PORT or set PREFCENTER_NOTIFY_RELAY."
            ) from None
        with smtp:
            for recipient in result.sendable:
                message = build(center, recipient, args.topic, args.sender)
                identity = center.identity(recipient)
                # VERP: the bounce for this message comes back to bounces+TOKEN@MAIL_DOMAIN.
                smtp.send_message(
                    message, from_addr=center.links.bounce_address(identity), to_addrs=[recipient]
                )
                center.record_sent(
                    recipient,
                    topic=args.topic,
                    sender="newsletter",
                    message_id=str(message["Message-ID"]),
                )
    counts = result.counts()
    print(json.dumps({"sent": counts.pop("sendable"), "refused": counts}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
