"""What the store tells people about itself: the compliance report
(:mod:`~prefcenter.report.compliance`, ``prefcenter report``), its daily counts for the
console's charts (:mod:`~prefcenter.report.trends`) and a person's whole story
(:mod:`~prefcenter.report.story`)."""

from prefcenter.report.compliance import (
    OPT_OUT_ACTIONS,
    REQUEST_ACTIONS,
    HonourTimes,
    Report,
    Violation,
    build_report,
    format_duration,
    format_report,
    honour_times,
    percentile,
    report_data,
)

__all__ = [
    "OPT_OUT_ACTIONS",
    "REQUEST_ACTIONS",
    "HonourTimes",
    "Report",
    "Violation",
    "build_report",
    "format_duration",
    "format_report",
    "honour_times",
    "percentile",
    "report_data",
]
