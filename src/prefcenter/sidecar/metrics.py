"""Prometheus text exposition, written by hand, no client library.

Five families: HTTP requests, unsubscribes by source, store latency, group commits and
the requests they carried.

Labels are route templates (``/u/{token}``), statuses and sources: never a token, an
address or an identity hash, so the metrics endpoint leaks nothing and its cardinality
stays bounded.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

#: The methods RFC 9110 defines (and PATCH); others are counted as ``other``.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
#: Upper bounds (seconds) of the store latency histogram.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Counters and one histogram for the HTTP sidecar; safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._unsubscribes: dict[str, int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._latency_sum: dict[str, float] = defaultdict(float)
        self._latency_count: dict[str, int] = defaultdict(int)
        self._batches = 0
        self._inbound: dict[tuple[str, str], int] = defaultdict(int)
        self._batched_requests = 0
        self._webhook_events: dict[tuple[str, str], int] = defaultdict(int)
        self._webhook_failures: dict[tuple[str, str], int] = defaultdict(int)
        self._ready: bool | None = None

    def request(self, route: str, method: str, status: int) -> None:
        """Count one answered request by route template, method and status.

        A method outside RFC 9110's is counted as ``other``: a server other than
        httptools passes any token a client invents, one new series each.
        """
        if method not in METHODS:
            method = "other"
        with self._lock:
            self._requests[(route, method, str(status))] += 1

    def inbound(self, mailbox: str, action: str) -> None:
        """Count one committed inbound message's outcome at a mailbox (issue 21: how much
        bounce-path mail became an exception item, was kept for audit, was evidence...)."""
        with self._lock:
            self._inbound[(mailbox, action)] += 1

    def unsubscribe(self, source: str) -> None:
        """Count one committed unsubscribe that changed something, by source."""
        with self._lock:
            self._unsubscribes[source] += 1

    def store_latency(self, operation: str, seconds: float) -> None:
        """Observe how long one store operation (``commit``, ``read``, ``ping``) took."""
        with self._lock:
            counts = self._buckets.setdefault(operation, [0] * len(LATENCY_BUCKETS))
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            self._latency_sum[operation] += seconds
            self._latency_count[operation] += 1

    def readiness(self, ready: bool) -> None:
        """Record the outcome of the last readiness probe (a committed tiny write)."""
        with self._lock:
            self._ready = ready

    def batch(self, size: int) -> None:
        """Count one group commit of ``size`` requests."""
        with self._lock:
            self._batches += 1
            self._batched_requests += size

    def webhook(self, provider: str, recorded: Any) -> None:
        """Count one committed webhook request's events by provider and outcome."""
        with self._lock:
            for outcome in ("changed", "unchanged", "ignored", "invalid"):
                self._webhook_events[(provider, outcome)] += getattr(recorded, outcome)
            self._webhook_events[(provider, "queued")] += recorded.exceptions

    def webhook_failure(self, provider: str, status: int) -> None:
        """Count one webhook request refused or failed (401, 403, 400, 413, 503...)."""
        with self._lock:
            self._webhook_failures[(provider, str(status))] += 1

    def render(self) -> str:
        """The exposition text (format version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            lines += [
                "# HELP prefcenter_http_requests_total HTTP requests answered.",
                "# TYPE prefcenter_http_requests_total counter",
            ]
            for (route, method, status), value in sorted(self._requests.items()):
                labels = f'route="{_escape(route)}",method="{method}",status="{status}"'
                lines.append(f"prefcenter_http_requests_total{{{labels}}} {value}")
            lines += [
                "# HELP prefcenter_unsubscribes_total Committed unsubscribes that changed state.",
                "# TYPE prefcenter_unsubscribes_total counter",
            ]
            for source, value in sorted(self._unsubscribes.items()):
                lines.append(f'prefcenter_unsubscribes_total{{source="{_escape(source)}"}} {value}')
            lines += [
                "# HELP prefcenter_inbound_total Committed inbound mail by mailbox and outcome.",
                "# TYPE prefcenter_inbound_total counter",
            ]
            for (mailbox, action), value in sorted(self._inbound.items()):
                labels = f'mailbox="{_escape(mailbox)}",outcome="{_escape(action)}"'
                lines.append(f"prefcenter_inbound_total{{{labels}}} {value}")
            lines += [
                "# HELP prefcenter_store_seconds Time spent in store calls.",
                "# TYPE prefcenter_store_seconds histogram",
            ]
            for operation, counts in sorted(self._buckets.items()):
                op = _escape(operation)
                for bound, count in zip(LATENCY_BUCKETS, counts, strict=True):
                    lines.append(
                        f'prefcenter_store_seconds_bucket{{operation="{op}",le="{bound}"}} {count}'
                    )
                total = self._latency_count[operation]
                lines.append(
                    f'prefcenter_store_seconds_bucket{{operation="{op}",le="+Inf"}} {total}'
                )
                spent = self._latency_sum[operation]
                lines.append(f'prefcenter_store_seconds_sum{{operation="{op}"}} {spent}')
                lines.append(f'prefcenter_store_seconds_count{{operation="{op}"}} {total}')
            lines += [
                "# HELP prefcenter_group_commits_total Store transactions made by group commit.",
                "# TYPE prefcenter_group_commits_total counter",
                f"prefcenter_group_commits_total {self._batches}",
                "# HELP prefcenter_group_commit_requests_total Requests committed by group commit.",
                "# TYPE prefcenter_group_commit_requests_total counter",
                f"prefcenter_group_commit_requests_total {self._batched_requests}",
                "# HELP prefcenter_webhook_events_total Provider webhook events committed, "
                "by outcome.",
                "# TYPE prefcenter_webhook_events_total counter",
            ]
            for (provider, outcome), value in sorted(self._webhook_events.items()):
                lines.append(
                    f'prefcenter_webhook_events_total{{provider="{provider}",'
                    f'outcome="{outcome}"}} {value}'
                )
            lines += [
                "# HELP prefcenter_webhook_failures_total Provider webhook requests refused "
                "or failed (503: the store failed and the provider must retry).",
                "# TYPE prefcenter_webhook_failures_total counter",
            ]
            for (provider, status), value in sorted(self._webhook_failures.items()):
                lines.append(
                    f'prefcenter_webhook_failures_total{{provider="{provider}",'
                    f'status="{status}"}} {value}'
                )
            lines += [
                "# HELP prefcenter_up The process answers (liveness, as /healthz).",
                "# TYPE prefcenter_up gauge",
                "prefcenter_up 1",
            ]
            if self._ready is not None:
                lines += [
                    "# HELP prefcenter_ready A write could commit at the last probe (/readyz).",
                    "# TYPE prefcenter_ready gauge",
                    f"prefcenter_ready {int(self._ready)}",
                ]
        return "\n".join(lines) + "\n"


def outbox_lines(urls: tuple[str, ...], counts: dict[tuple[str, str], int]) -> str:
    """The webhook outbox gauge: rows by endpoint (its 1-based place in
    EVENTS_WEBHOOK_URL, never the URL, which may carry a token) and state; the rows of
    endpoints no longer configured as ``endpoint="removed"``."""
    lines = [
        "# HELP prefcenter_webhook_outbox Webhook deliveries waiting, by endpoint and state "
        "(dead: dead-lettered, see `prefcenter webhooks retry` and `webhooks discard`).",
        "# TYPE prefcenter_webhook_outbox gauge",
    ]
    for number, url in enumerate(urls, start=1):
        for state in ("pending", "dead"):
            value = counts.get((url, state), 0)
            lines.append(
                f'prefcenter_webhook_outbox{{endpoint="{number}",state="{state}"}} {value}'
            )
    for state in ("pending", "dead"):  # the worker dead-letters them when it starts
        removed = sum(n for (url, kind), n in counts.items() if kind == state and url not in urls)
        if removed:
            lines.append(
                f'prefcenter_webhook_outbox{{endpoint="removed",state="{state}"}} {removed}'
            )
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
