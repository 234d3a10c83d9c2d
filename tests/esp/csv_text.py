"""A generated export's rows as CSV text under a fixed header, for the readers' tests."""

from __future__ import annotations

import csv
import io


def csv_text(rows: list[list[str]]) -> str | None:
    """``rows`` under ``Email,created,reason``; None when the text would read as JSON (a
    leading ``[`` or ``{``: the reader takes another path for it)."""
    sink = io.StringIO(newline="")
    writer = csv.writer(sink)
    writer.writerow(["Email", "created", "reason"])
    writer.writerows(rows)
    text = sink.getvalue()
    return None if text.lstrip(" \t\r\n\ufeff")[:1] in ("[", "{") else text
