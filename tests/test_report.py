"""The report's arithmetic and text: percentiles, durations, and the JSON shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefcenter.model import Channel, ExceptionItem, Kind, Scope, Source
from prefcenter.report import (
    HonourTimes,
    Report,
    Violation,
    format_duration,
    format_report,
    honour_times,
    percentile,
    report_data,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (60, "1m"), (61, "1m 1s"), (3600 * 4 + 600, "4h 10m"),
     (86400 * 2 + 3600 * 3 + 5, "2d 3h"), (86400, "1d")],
)  # fmt: skip
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_honour_times_median_p95_max() -> None:
    delays = [timedelta(seconds=s) for s in [*range(1, 20), 1000]]
    times = honour_times(delays)
    assert times == HonourTimes(
        count=20,
        median=timedelta(seconds=10.5),
        p95=timedelta(seconds=19),
        max=timedelta(seconds=1000),
    )
    assert honour_times([]) == HonourTimes(count=0)


def test_negative_delays_count_as_immediate() -> None:
    assert honour_times([timedelta(seconds=-5)]).max == timedelta(0)


@given(st.lists(st.floats(min_value=0, max_value=1e7), min_size=1), st.floats(0, 1))
def test_percentile_is_an_element_and_monotonic(values: list[float], fraction: float) -> None:
    ordered = sorted(values)
    value = percentile(ordered, fraction)
    assert value in ordered
    assert value <= percentile(ordered, 1.0) == ordered[-1]
    assert percentile(ordered, 0.0) == ordered[0]


def make_report() -> Report:
    item = ExceptionItem(
        id=7, received_at=T0, due_at=T0 + timedelta(days=2), mailbox="unsubscribe",
        why="no token", raw=b"...", summary="From: someone",
    )  # fmt: skip
    violation = Violation(
        identity_hash="ab" * 16, channel=Channel.EMAIL, topic="offers", kind=Kind.MARKETING,
        sent_at=T0 + timedelta(days=3), sender="crm", message_id="<m1@x>", opted_out_at=T0,
        scope=Scope.GLOBAL, source=Source.ONE_CLICK, late_by=timedelta(days=3),
        address="alice@example.com",
    )  # fmt: skip
    return Report(
        since=T0, until=T0 + timedelta(days=5),
        requests={"cli": {"email": 2}, "one-click": {"email": 1, "sms": 3}},
        honour=honour_times([timedelta(0), timedelta(hours=4)]), open_exceptions=1,
        overdue=[item], violations=[violation], grace=timedelta(days=2),
    )  # fmt: skip


def test_report_text_names_who_sent_what_when() -> None:
    text = format_report(make_report())
    assert "Requests by source and channel: 6" in text
    assert "Time to honour (2 opt-outs): median 2h, p95 4h, max 4h" in text
    assert "Exceptions: 1 open, 1 overdue" in text
    assert "#7  overdue by 3d  unsubscribe  no token  From: someone" in text
    assert (
        "2024-05-04 10:00:00Z  sender=crm  email  topic=offers  marketing  message=<m1@x>  "
        "alice@example.com  opted out 2024-05-01 10:00:00Z via one-click, sent 3d after"
    ) in text


def test_report_json_shape() -> None:
    data = report_data(make_report())
    assert set(data) == {
        "since", "until", "requests", "feedback", "time_to_honour", "exceptions", "violations",
        "bounces", "machine_mail_kept", "webhooks",
    }  # fmt: skip
    assert data["webhooks"] == []
    assert data["requests"] == {
        "total": 6, "by_source": {"cli": {"email": 2}, "one-click": {"email": 1, "sms": 3}}
    }  # fmt: skip
    assert data["time_to_honour"] == {
        "count": 2, "median_seconds": 7200.0, "p95_seconds": 14400.0, "max_seconds": 14400.0
    }  # fmt: skip
    assert data["exceptions"]["open"] == 1
    assert data["exceptions"]["overdue"][0]["id"] == 7
    item = data["violations"]["items"][0]
    assert data["violations"]["count"] == 1
    assert item["sender"] == "crm"
    assert item["late_by_seconds"] == 3 * 86400
    assert item["sent_at"] == "2024-05-04T10:00:00+00:00"


def test_report_shows_dead_lettered_webhooks_without_the_query() -> None:
    report = make_report()
    report.webhooks.update(
        {("https://crm.example.com/hook?token=s3cret", "pending"): 4,
         ("https://crm.example.com/hook?token=s3cret", "dead"): 2}
    )  # fmt: skip
    text = format_report(report)
    assert "Webhooks: 4 pending, 2 dead-lettered" in text
    assert "https://crm.example.com/hook  dead 2" in text
    assert "s3cret" not in text and "webhooks retry" in text and "webhooks discard" in text
    assert {"endpoint": "https://crm.example.com/hook", "state": "dead", "count": 2} in (
        report_data(report)["webhooks"]
    )
