"""The report as pictures: SVG charts, each with its table and a CSV download."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from prefcenter.model import show_time
from prefcenter.report import format_duration
from prefcenter.report.trends import (
    COMPLAINT_LIMIT,
    COMPLAINT_TARGET,
    HONOUR_EDGES,
    HONOUR_LINE,
    Trends,
    build_trends,
)
from prefcenter.sidecar.console import charts
from prefcenter.sidecar.console.forms import cell
from prefcenter.sidecar.console.state import (
    PAGE_HEADERS,
    console_of,
    login_redirect,
)

REPORT_DAYS = (7, 30, 90)


# -- the report as pictures -----------------------------------------------------------------
async def report_page(request: Request) -> Response:
    """GET /report?days=30: each chart with its table and a CSV link."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    days = _days(request)
    trends: Trends = await console.call(build_trends, console.center, days=days, cache=console.days)

    def page() -> Response:  # the charts and the page, drawn in a worker thread
        return console.render(
            request, "report.html", who=who, days=days, choices=REPORT_DAYS, **_report(trends)
        )

    response: Response = await console.call(page)
    return response


def _days(request: Request) -> int:
    raw = request.query_params.get("days", "30")
    return int(raw) if raw.isdigit() and int(raw) in REPORT_DAYS else 30


def _report(trends: Trends) -> dict[str, Any]:
    days = [day.strftime("%m-%d") for day in trends.by_source.days]
    first, last = trends.by_source.days[0], trends.by_source.days[-1]
    period = f"{first.isoformat()} to {last.isoformat()}"
    requests = charts.bar_chart(
        "requests",
        "Requests per day by source",
        f"Opt-outs and other requests per day from {period}, stacked by where they came from; "
        f"{sum(sum(v) for v in trends.by_source.counts.values())} in all.",
        days,
        trends.by_source.counts,
    )
    channels = charts.bar_chart(
        "channels",
        "Requests per day by channel",
        f"The same requests per day from {period}, stacked by channel.",
        days,
        trends.by_channel.counts,
    )
    in_time, all_opt_outs = trends.honoured_in_time
    line_index = sum(1 for _, edge in HONOUR_EDGES if edge <= HONOUR_LINE)
    honour = charts.bar_chart(
        "honour",
        "Time to honour opt-outs",
        f"{in_time} of {all_opt_outs} opt-outs were honoured within 2 days; the dashed line "
        "marks the 2-day deadline.",
        [label for label, _ in trends.honour],
        {"opt-outs": [count for _, count in trends.honour]},
        marker=charts.Line(line_index, "2-day deadline"),
    )
    rates = trends.rates()
    rate_chart = charts.line_chart(
        "rates",
        "Bounce and complaint rates per day",
        "Bounces and complaints as a share of the day's recorded sends, against the "
        "0.1 % and 0.3 % complaint lines.",
        days,
        {"bounce rate": [r[2] for r in rates], "complaint rate": [r[3] for r in rates]},
        lines=[
            charts.Line(COMPLAINT_TARGET, "0.1 % complaint target", "#b45309"),
            charts.Line(COMPLAINT_LIMIT, "0.3 % complaint limit", "#b91c1c"),
        ],
    )
    queue = charts.bar_chart(
        "queue",
        "Exceptions waiting",
        f"{trends.open_exceptions} exceptions are open; {trends.overdue_exceptions} of them "
        "are overdue.",
        ["open, not yet due", "overdue"],
        {"items": [trends.open_exceptions - trends.overdue_exceptions, trends.overdue_exceptions]},
    )
    return {
        "trends": trends,
        "period": period,
        "counted_at": trends.counted_at.strftime("%H:%M:%S") if trends.counted_at else "",
        "charts": {
            "requests": requests,
            "channels": channels,
            "honour": honour,
            "rates": rate_chart,
            "queue": queue,
        },
        "rates": rates,
        "show_time": show_time,
        "duration": format_duration,
        "percent": lambda value: "-" if value is None else f"{value * 100:.2f} %",
    }


def report_tables(trends: Trends) -> dict[str, tuple[list[str], list[list[object]]]]:
    """Each table of the report page as (header, rows), for its CSV download."""
    days = [day.isoformat() for day in trends.by_source.days]

    def per_day(counts: dict[str, list[int]]) -> tuple[list[str], list[list[object]]]:
        names = list(counts)
        return ["day", *names], [
            [day, *(counts[n][i] for n in names)] for i, day in enumerate(days)
        ]

    rates = trends.rates()
    times = trends.honour_times
    return {
        "requests-by-source": per_day(trends.by_source.counts),
        "requests-by-channel": per_day(trends.by_channel.counts),
        "time-to-honour": (
            ["delay", "opt-outs"],
            [[label, count] for label, count in trends.honour],
        ),
        # The exact figures over every opt-out of the period (not from the buckets), in
        # seconds, as `prefcenter report --json` names them.
        "time-to-honour-summary": (
            ["count", "median_seconds", "p95_seconds", "max_seconds"],
            [
                [
                    times.count,
                    *(
                        "" if t is None else f"{t.total_seconds():.3f}"
                        for t in (times.median, times.p95, times.max)
                    ),
                ]
            ],
        ),
        "rates": (
            ["day", "sent", "bounces", "complaints", "bounce_rate", "complaint_rate"],
            [
                [
                    day.isoformat(),
                    sent,
                    trends.bounces[i],
                    trends.complaints[i],
                    "" if b is None else f"{b:.6f}",
                    "" if c is None else f"{c:.6f}",
                ]
                for i, (day, sent, b, c) in enumerate(rates)
            ],
        ),
        "exceptions": (
            ["open", "overdue"],
            [[trends.open_exceptions, trends.overdue_exceptions]],
        ),
        "violations": (
            [
                "sent_at",
                "person",
                "channel",
                "topic",
                "kind",
                "sender",
                "message_id",
                "opted_out_at",
                "source",
                "late_by_seconds",
            ],
            [
                [
                    v.sent_at.isoformat(),
                    v.address or v.identity_hash,
                    v.channel.value,
                    v.topic or "",
                    v.kind.value,
                    v.sender or "",
                    v.message_id or "",
                    v.opted_out_at.isoformat(),
                    v.source.value if v.source else "",
                    int(v.late_by.total_seconds()),
                ]
                for v in trends.violations
            ],
        ),
    }


async def report_csv(request: Request) -> Response:
    """GET /report/{table}.csv: one table of the report as CSV."""
    console = console_of(request)
    who = await console.who(request)
    if who is None:
        return login_redirect(request)
    trends = await console.call(
        build_trends, console.center, days=_days(request), cache=console.days
    )
    tables = report_tables(trends)
    name = request.path_params["table"]
    if name not in tables:
        raise HTTPException(404)
    header, rows = tables[name]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[cell(value) for value in row] for row in rows])
    return Response(
        out.getvalue().encode(),
        media_type="text/csv; charset=utf-8",
        headers={**PAGE_HEADERS, "content-disposition": f'attachment; filename="{name}.csv"'},
    )
