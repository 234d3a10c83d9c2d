#!/usr/bin/env python3
"""An asyncio sender: the center is synchronous, so its calls run in worker threads.

    python examples/async_sender.py recipients.txt --topic offers --relay 127.0.0.1:25

The same steps as newsletter.py: filter the list (suppressed, invalid and duplicate
people out: Gina+x@example.com is gina@example.com), then stamp, send and record each
message, with up to --concurrency in flight, checking each person again just before
(someone may have unsubscribed meanwhile). ``asyncio.to_thread`` keeps the event loop
free while the center reads or writes the store; PreferenceCenter is safe to share
between threads. Prints one JSON line with the count of each outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import smtplib
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid

from prefcenter.center import PreferenceCenter


def send_one(center: PreferenceCenter, relay: tuple[str, int], recipient: str, topic: str) -> str:
    """Check, stamp, send and record one message; runs in a worker thread."""
    decision = center.check(recipient, topic)
    if not decision.allowed:
        return decision.reason.value
    message = EmailMessage()
    message["From"] = "offers@example.com"
    message["To"] = recipient
    message["Subject"] = f"This week's {topic}"
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content(f"Unsubscribe: {center.unsubscribe_url(recipient, topic)}\n")
    center.stamp(message, recipient, topic)
    bounce = center.links.bounce_address(center.identity(recipient))
    with smtplib.SMTP(*relay, timeout=30) as smtp:
        smtp.send_message(message, from_addr=bounce, to_addrs=[recipient])
    center.record_sent(recipient, topic=topic, sender="async-sender",
                       message_id=str(message["Message-ID"]))  # fmt: skip
    return "sent"


async def run(center: PreferenceCenter, relay: tuple[str, int], recipients: list[str],
              topic: str, concurrency: int) -> Counter[str]:  # fmt: skip
    # By identity, before any send: concurrent checks of two spellings would both pass.
    result = await asyncio.to_thread(center.filter, recipients, topic)
    outcome = Counter(refusal.reason.value for refusal in result.refused)
    limit = asyncio.Semaphore(concurrency)

    async def one(recipient: str) -> str:
        async with limit:
            return await asyncio.to_thread(send_one, center, relay, recipient, topic)

    outcome.update(await asyncio.gather(*(one(r) for r in result.sendable)))
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipients", help="file with one address per line")
    parser.add_argument("--topic", default="offers")
    parser.add_argument("--relay", default=None, help="HOST:PORT; default PREFCENTER_NOTIFY_RELAY")
    parser.add_argument("--database", default=None, help="store URL; default: PREFCENTER_DATABASE")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with open(args.recipients, encoding="utf-8") as handle:
        recipients = [line.strip() for line in handle if line.strip()]
    overrides = {"database": args.database} if args.database else {}
    with PreferenceCenter.from_env(**overrides) as center:
        host, _, port = (args.relay or center.settings.notify_relay).rpartition(":")
        try:
            smtplib.SMTP(host, int(port), timeout=30).quit()  # fail at once, not per message
        except OSError as error:
            raise SystemExit(
                f"Cannot reach the SMTP relay {host}:{port} ({error.strerror or error}); "
                "pass --relay HOST:PORT or set PREFCENTER_NOTIFY_RELAY."
            ) from None
        outcome = asyncio.run(run(center, (host, int(port)), recipients, args.topic,
                                  args.concurrency))  # fmt: skip
    print(json.dumps(dict(sorted(outcome.items()))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
