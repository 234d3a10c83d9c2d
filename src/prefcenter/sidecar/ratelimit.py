"""Token buckets per client: how often one address (or one API key) may ask.

A :class:`TokenBuckets` holds one bucket per key (a client address, a key's hash, a
login name). Each bucket holds up to ``count`` tokens and refills at ``count`` per
``per`` seconds; a request takes one. An empty bucket answers how many seconds until
the next token, which becomes ``Retry-After`` (HTTP 429) or the SMTP reply's hint (421
at connect, 452 at ``MAIL``). Memory is bounded: past ``max_keys`` buckets, full ones
are forgotten first (a full bucket is the same as no bucket), then the oldest.

:func:`client_address` decides whose bucket a request takes from: the connection's
peer, unless the peer is a configured trusted proxy (``TRUSTED_PROXIES``); then the
nearest address in ``X-Forwarded-For`` that is not itself a trusted proxy. A forwarded
header from anyone else is ignored, so a client cannot pick a fresh bucket per request.

This module knows nothing of HTTP or SMTP frameworks: the sidecar's HTTP throttle,
its SMTP session, the console's login and the preferences page each keep their own
buckets and call :meth:`TokenBuckets.take`.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from prefcenter.config import FrequencyCap
from prefcenter.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Buckets kept per limiter before the full, then the oldest, are forgotten.
MAX_KEYS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """One token bucket per key.

    Args:
        count: tokens a bucket holds (the burst), and how many it regains per ``per``.
        per: seconds in which an empty bucket refills completely.
        max_keys: most buckets kept at once.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        count: int,
        per: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if count < 1 or per <= 0:
            raise ValueError(f"A token bucket needs count >= 1 and per > 0, not {count}/{per}.")
        self.capacity = float(count)
        self.refill = count / per
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}

    def take(self, key: Hashable, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when taken, else the seconds
        until they will be there (nothing is taken then)."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.refill)
            bucket.stamp = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.refill

    def waiting(self, key: Hashable, cost: float = 1.0) -> float:
        """Seconds until ``key``'s bucket holds ``cost`` tokens (0.0: now); takes none."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(self.capacity, bucket.tokens + (self.clock() - bucket.stamp) * self.refill)
        return 0.0 if tokens >= cost else (cost - tokens) / self.refill

    @property
    def keys(self) -> int:
        """Buckets held now (a limiter is always true: no ``__len__`` on purpose)."""
        return len(self._buckets)

    def _forget(self, now: float) -> None:
        """Drop every bucket that has refilled; if none has, the oldest half."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.stamp) * self.refill >= self.capacity
        ]
        if not full:
            full = list(self._buckets)[: max(1, len(self._buckets) // 2)]
        for key in full:
            del self._buckets[key]


def buckets(rate: FrequencyCap | None) -> TokenBuckets | None:
    """Buckets for a ``COUNT/DURATION`` rate setting; None when it is off."""
    if rate is None:
        return None
    return TokenBuckets(rate.count, rate.window.total_seconds())


def parse_networks(values: Iterable[str], name: str = "trusted_proxies") -> tuple[Network, ...]:
    """Addresses or CIDR networks (``10.0.0.0/8``, ``::1``) as networks.

    Raises:
        ConfigError: a value is neither an address nor a network.
    """
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"Setting {name.upper()} has item {value!r}; write IP addresses or networks "
                "such as 10.0.0.1 or 10.0.0.0/8, comma-separated.",
                name=name,
                value=value,
            ) from None
    return tuple(networks)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The address whose bucket a request takes from.

    Args:
        peer: the connection's remote address.
        forwarded_for: the ``X-Forwarded-For`` header (None when absent).
        proxies: the trusted proxies; empty means the peer is always the client.
    """
    if not proxies or not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):  # the nearest hop first: the proxy appended it
        if not _trusted(hop, proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer


def retry_after(seconds: float) -> str:
    """``seconds`` as a ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, int(seconds + 0.999)))


__all__ = [
    "MAX_KEYS",
    "Network",
    "TokenBuckets",
    "buckets",
    "client_address",
    "parse_networks",
    "retry_after",
]
