"""Sender-side hot paths: canonicalising addresses and making the header set.

Each figure is a ratio to a baseline timed in the same run, because the machine is
shared and absolute times wander:

- fast canonicalisation vs ``email_validator.validate_email`` (target: at most 1/20);
- token plus full header set per recipient vs ``hmac.new(key, payload, sha256).digest()``
  of the same 21-byte payload (target: at most 2x).

Run: ``python -m bench.bench_headers [--quick]``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import string
import timeit
from collections.abc import Callable

from email_validator import validate_email

from prefcenter.config import load_settings
from prefcenter.headers import Links
from prefcenter.identity import Folding, Identities, canonical_email
from prefcenter.tokens import TokenSigner


def _addresses(count: int) -> list[str]:
    rng = random.Random(7)
    domains = ["example.com", "mail.example.org", "Example.NET", "gmail.com", "corp.example.co.uk"]
    letters = string.ascii_lowercase + string.digits
    result = []
    for _ in range(count):
        local = "".join(rng.choices(letters, k=rng.randint(4, 14)))
        if rng.random() < 0.2:
            local = local.capitalize() + "." + "".join(rng.choices(letters, k=5))
        if rng.random() < 0.1:
            local += "+news"
        result.append(f"{local}@{rng.choice(domains)}")
    return result


def _in_turns(
    baseline: Callable[[], object], contender: Callable[[], object], items: int, repeat: int
) -> tuple[float, float]:
    """Best seconds per item of each, timed in alternating rounds so load hits both alike."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for index, function in enumerate((baseline, contender)):
            best[index] = min(best[index], timeit.timeit(function, number=1))
    return best[0] / items, best[1] / items


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    count, repeat = (2_000, 5) if args.quick else (20_000, 9)

    addresses = _addresses(count)
    folding = Folding()

    def run_validator() -> None:
        for address in addresses:
            validate_email(address, check_deliverability=False)

    def run_fast() -> None:
        for address in addresses:
            canonical_email(address, folding)

    validator, fast = _in_turns(run_validator, run_fast, count, repeat)

    settings = load_settings(
        {"secret": "bench-secret-0123456789", "pepper": "bench-pepper-0123456789abc"},
        environ={},
        generate_dev_keys=False,
    )
    links = Links(settings, TokenSigner(settings.signing_keys()))
    identities = Identities(settings.pepper_bytes())
    people = [identities.parse(address) for address in addresses]
    key = hashlib.sha256(b"bench").digest()
    payloads = [bytes([0x51]) + person.hash + b"news" for person in people]

    def run_hmac() -> None:
        for payload in payloads:
            hmac.new(key, payload, hashlib.sha256).digest()

    def run_headers() -> None:
        for person in people:
            links.headers(person, "weekly")

    raw_hmac, headers = _in_turns(run_hmac, run_headers, count, repeat)

    results = {
        "validate_email_us": validator * 1e6,
        "canonical_fast_us": fast * 1e6,
        "canonical_ratio": fast / validator,
        "hmac_new_us": raw_hmac * 1e6,
        "headers_us": headers * 1e6,
        "headers_ratio": headers / raw_hmac,
    }
    print("bench_headers: sender-side hot paths (ratios to baselines in the same run)")
    print(f"  validate_email       {validator * 1e6:8.2f} us/address (baseline)")
    print(
        f"  canonical_email      {fast * 1e6:8.2f} us/address  ratio {fast / validator:.3f}"
        "  (target <= 0.050)"
    )
    print(f"  hmac.new sha256      {raw_hmac * 1e6:8.2f} us/payload (baseline)")
    print(
        f"  token + header set   {headers * 1e6:8.2f} us/recipient ratio {headers / raw_hmac:.2f}"
        "  (target <= 2.00)"
    )
    return results


if __name__ == "__main__":
    main()
