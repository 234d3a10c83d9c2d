"""/metrics: Prometheus text with requests, unsubscribes and store latency, and no secrets."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from prefcenter.model import Source
from prefcenter.sidecar.metrics import LATENCY_BUCKETS, Metrics
from tests.sidecar.conftest import LiveSidecar, live_sidecar, sidecar_settings
from tests.sidecar.helpers import FORM, ONE_CLICK, unsubscribe_path
from tests.webhooks.conftest import SECRET

# One sample line of the text format: name{labels} value.
SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? [0-9.e+-]+$')


def _sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start!r} in:\n{text}")


def test_metrics_count_requests_unsubscribes_and_store_time(live: LiveSidecar) -> None:
    address = "carol@example.org"
    path = unsubscribe_path(live.real_center, address)
    token = path.rsplit("/", 1)[1]
    with live.client() as client:
        for _ in range(2):
            client.post(path, content=ONE_CLICK, headers={"content-type": FORM})
        client.get("/u/garbage")
        client.get("/readyz")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    requests = 'prefcenter_http_requests_total{route="/u/{token}",method="POST",status="200"}'
    assert _sample(text, requests) == 2
    bad = 'prefcenter_http_requests_total{route="/u/{token}",method="GET",status="400"}'
    assert _sample(text, bad) == 1
    # The second POST changed nothing, so one unsubscribe is counted.
    assert _sample(text, 'prefcenter_unsubscribes_total{source="one-click"}') == 1
    assert _sample(text, 'prefcenter_store_seconds_count{operation="commit"}') >= 1
    # /readyz and the scrape itself each commit a probe (issue 20: readiness)
    assert _sample(text, 'prefcenter_store_seconds_count{operation="probe"}') == 2
    assert _sample(text, "prefcenter_ready") == 1
    assert address not in text
    assert token not in text
    assert "carol" not in text


def test_every_line_is_valid_exposition_text(live: LiveSidecar) -> None:
    with live.client() as client:
        client.get("/healthz")
        client.get("/nowhere")
        text = client.get("/metrics").text
    assert 'route="unmatched"' in text
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line


@given(observations=st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=50))
def test_histogram_buckets_are_cumulative(observations: list[float]) -> None:
    metrics = Metrics()
    for seconds in observations:
        metrics.store_latency("commit", seconds)
    text = metrics.render()
    counts = [
        _sample(text, f'prefcenter_store_seconds_bucket{{operation="commit",le="{bound}"}}')
        for bound in LATENCY_BUCKETS
    ] if observations else []  # fmt: skip
    assert counts == sorted(counts)
    for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
        assert count == sum(1 for seconds in observations if seconds <= bound)
    if observations:
        assert _sample(text, 'prefcenter_store_seconds_count{operation="commit"}') == len(
            observations
        )


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.request('/odd"route\\', "GET", 200)
    line = next(
        line for line in metrics.render().splitlines() if line.startswith("prefcenter_http")
    )
    assert line == (
        'prefcenter_http_requests_total{route="/odd\\"route\\\\",method="GET",status="200"} 1'
    )


def test_invented_methods_share_one_series() -> None:
    # httptools knows ~46 methods; other servers pass any token a client makes up.
    metrics = Metrics()
    for number in range(300):
        metrics.request("/u/{token}", f"M{number:0>200}", 405)
    metrics.request("/u/{token}", "POST", 200)
    lines = [line for line in metrics.render().splitlines() if line.startswith("prefcenter_http")]
    assert lines == [
        'prefcenter_http_requests_total{route="/u/{token}",method="POST",status="200"} 1',
        'prefcenter_http_requests_total{route="/u/{token}",method="other",status="405"} 300',
    ]


def test_the_webhook_outbox_gauge_counts_pending_and_dead(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/hook?token=not-shown"
    settings = sidecar_settings(tmp_path, events_webhook_url=url, events_webhook_secret=SECRET)
    with live_sidecar(settings) as server:
        server.real_center.store.run(lambda session: session.sync_endpoints([url]))
        server.real_center.suppress("a@example.org", source=Source.CLI)
        server.real_center.suppress("b@example.org", source=Source.CLI)
        (row, _) = server.real_center.store.read(lambda s: s.outbox_due(1, 2**62, 10))
        server.real_center.store.run(
            lambda s: s.outbox_failed([row.id], next_at=0, dead=True, error="HTTP 500")
        )
        with server.client() as client:
            text = client.get("/metrics").text
    assert 'prefcenter_webhook_outbox{endpoint="1",state="pending"} 1' in text
    assert 'prefcenter_webhook_outbox{endpoint="1",state="dead"} 1' in text
    assert "not-shown" not in text
