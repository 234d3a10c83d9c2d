#!/usr/bin/env python3
"""Forward events from an ESP or gateway prefcenter has no receiver for, signed.

    python examples/esp_forwarder.py events.jsonl

Reads one event per line (the shape ``POST /hooks/generic`` takes) and POSTs each to
``$PREFCENTER_BASE_URL/hooks/generic``, signed as Standard Webhooks says with the
secret in ``$PREFCENTER_GENERIC_WEBHOOK_SECRET`` (the sidecar verifies it with the same
setting). Each line gets a stable ``webhook-id`` (a hash of the line), so running the
script twice over the same file changes nothing the second time. For example::

    {"type": "bounce", "recipient": "gone@example.org", "bounce": "hard", "evidence": "sp-9d1f"}
    {"type": "suppress", "recipient": "+14155550123", "channel": "sms", "reason": "texted ARRET"}
    {"type": "complaint", "recipient": "angry@example.org", "evidence": "fbl-77"}

Prints one JSON line: how many events were sent and what the sidecar did with them.
Exits 1 if any was refused (a 4xx: fix the line) or failed (a 5xx: run again later).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", help="a file of JSON lines, one event each")
    args = parser.parse_args()
    base_url = os.environ["PREFCENTER_BASE_URL"].rstrip("/")
    # The newest secret signs (the setting lists them oldest first).
    secret = os.environ["PREFCENTER_GENERIC_WEBHOOK_SECRET"].split(",")[-1].strip()
    signer = Webhook(secret)
    totals: Counter[str] = Counter()
    with open(args.events, encoding="utf-8") as lines, httpx.Client(timeout=30) as client:
        for line in lines:
            if not line.strip():
                continue
            body = json.dumps(json.loads(line)).encode()
            message_id = "msg_" + hashlib.sha256(body).hexdigest()[:32]
            now = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(message_id, now, body),
            }
            answer = client.post(f"{base_url}/hooks/generic", content=body, headers=headers)
            totals["sent"] += 1
            if answer.status_code == 200:
                totals.update({k: v for k, v in answer.json().items() if k != "events"})
            else:
                totals[f"status {answer.status_code}"] += 1
    print(json.dumps(dict(sorted(totals.items()))))
    return 0 if all(not key.startswith("status") for key in totals) else 1


if __name__ == "__main__":
    sys.exit(main())
