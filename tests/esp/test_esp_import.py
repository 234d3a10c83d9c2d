"""Importing each provider's suppression export: kinds, dates, reasons, rejects, idempotence."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefcenter.center import PreferenceCenter
from prefcenter.esp import import_records, records
from prefcenter.esp.providers import Reject, parse_date
from prefcenter.esp.records import _CHUNK
from prefcenter.model import Action, Scope, Source
from tests.conftest import make_settings

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"

#: file, format, list -> {address: (scope, topic, requested_at as ISO or None)}; rejected rows.
CASES = [
    ("sendgrid_bounces.csv", "sendgrid", None,
     {"ana.silva@example.com": ("hard", None, "2015-09-30T22:12:05+00:00"),
      "bruno@example.org": ("hard", None, "2015-09-30T22:12:21+00:00")}, 1),
    ("sendgrid_blocks.json", "sendgrid", "block",
     {"carla@example.net": ("hard", None, "2015-09-30T22:12:34+00:00"),
      "dev.ops@example.com": ("hard", None, "2015-09-30T22:13:00+00:00")}, 0),
    ("sendgrid_spam_reports.csv", "sendgrid", None,
     {"edu@example.com": ("hard", None, "2015-09-30T22:12:21+00:00"),
      "fatima@example.org": ("hard", None, "2015-09-30T22:12:34+00:00")}, 0),
    ("sendgrid_unsubscribes.csv", "sendgrid", None,
     {"gina@example.com": ("global", None, "2015-09-30T22:12:21+00:00"),
      "hugo@example.org": ("global", None, "2015-09-30T22:12:34+00:00")}, 0),
    ("sendgrid_group_unsubscribes.json", "sendgrid", None,
     {"ines@example.com": ("topic", "Weekly News", "2015-01-26T23:06:47+00:00"),
      "joao@example.org": ("topic", "Product Updates", "2015-01-26T23:06:55+00:00")}, 0),
    ("ses_suppressed_destinations.json", "ses", None,
     {"kai@example.com": ("hard", None, "2020-04-08T17:46:21.519000+00:00"),
      "lena@example.org": ("hard", None, "2020-04-09T08:12:02.004000+00:00")}, 0),
    ("ses_import.csv", "ses", None,
     {"maria@example.com": ("hard", None, None), "nuno@example.org": ("hard", None, None)}, 1),
    ("postmark_suppressions.json", "postmark", None,
     {"paulo@example.com": ("hard", None, "2019-12-10T13:58:33+00:00"),
      "quinn@example.org": ("hard", None, "2019-12-11T15:15:00+00:00"),
      "rita@example.net": ("global", None, "2019-12-12T21:30:12+00:00")}, 0),
    ("mailgun_bounces.csv", "mailgun", None,
     {"sara@example.com": ("hard", None, "2011-10-21T11:02:55+00:00"),
      "tomas@example.org": ("hard", None, "2011-10-24T09:30:10+00:00")}, 0),
    ("mailgun_unsubscribes.json", "mailgun", None,
     {"ulla@example.com": ("global", None, "2011-10-21T11:02:55+00:00"),
      "vitor@example.org": ("topic", "newsletter", "2011-10-22T14:00:00+00:00")}, 0),
    ("mailgun_complaints.csv", "mailgun", None,
     {"wanda@example.com": ("hard", None, "2011-10-25T07:45:00+00:00")}, 0),
    ("generic.csv", "csv", None,
     {"xavier@example.com": ("global", None, "2024-02-01T09:30:00+00:00"),
      "yara@example.org": ("topic", "deals", "2024-02-02T10:00:00+00:00"),
      "zoe@example.net": ("hard", None, "2024-02-03T00:00:00+00:00")}, 1),
]  # fmt: skip


@pytest.fixture
def center(tmp_path: Path) -> PreferenceCenter:
    return PreferenceCenter(make_settings(tmp_path))


def run(
    center: PreferenceCenter, name: str, fmt: str, kind: str | None
) -> tuple[object, list[str]]:
    rejected: list[str] = []
    with (DATA / name).open(encoding="utf-8", newline="") as stream:
        summary = import_records(
            center,
            records(stream, header=not name.startswith("ses_import")),
            fmt,
            kind=kind,
            on_reject=lambda number, why, fields: rejected.append(why),
        )
    return summary, rejected


@pytest.mark.parametrize(("name", "fmt", "kind", "expected", "rejects"), CASES)
def test_each_sample_imports_with_its_dates_and_reasons(
    center: PreferenceCenter,
    name: str,
    fmt: str,
    kind: str | None,
    expected: dict[str, tuple[str, str | None, str | None]],
    rejects: int,
) -> None:
    _, rejected = run(center, name, fmt, kind)
    assert len(rejected) == rejects, rejected
    for address, (scope, topic, when) in expected.items():
        (found,) = center.suppressions(address)
        assert (found.scope.value, found.topic) == (scope, topic)
        (event,) = center.history(address)
        assert event.action is Action.SUPPRESS and event.source is Source.IMPORT
        assert event.reason and event.reason.startswith((fmt, "phoned", "ticked", "mailbox"))
        assert (event.requested_at.isoformat() if event.requested_at else None) == when
    # The same file again changes nothing: no event, no suppression.
    events = len(list(center.store.events()))
    again, _ = run(center, name, fmt, kind)
    assert again.added == 0 and again.known == len(expected)  # type: ignore[attr-defined]
    assert len(list(center.store.events())) == events


def test_spam_reports_and_bounces_say_which_in_the_reason(center: PreferenceCenter) -> None:
    run(center, "sendgrid_spam_reports.csv", "sendgrid", None)
    run(center, "mailgun_bounces.csv", "mailgun", None)
    assert center.history("edu@example.com")[0].reason == "sendgrid spam report"
    assert center.history("tomas@example.org")[0].reason == "mailgun bounce: 550 5.1.1 user unknown"
    assert center.suppressions("tomas@example.org")[0].scope is Scope.HARD


def test_a_date_in_the_future_is_rejected(center: PreferenceCenter) -> None:
    text = "email,created\nfuture@example.com,4102444800\n"
    rejected: list[str] = []
    summary = import_records(
        center, records(io.StringIO(text)), "sendgrid", on_reject=lambda n, w, f: rejected.append(w)
    )
    assert summary.rejected == 1 and "in the future" in rejected[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1443651125", datetime(2015, 9, 30, 22, 12, 5, tzinfo=UTC)),
        ("1443651125000", datetime(2015, 9, 30, 22, 12, 5, tzinfo=UTC)),
        ("2014-12-06 08:34:48", datetime(2014, 12, 6, 8, 34, 48, tzinfo=UTC)),
        ("2019-12-10T08:58:33Z", datetime(2019, 12, 10, 8, 58, 33, tzinfo=UTC)),
        ("Fri, 21 Oct 2011 11:02:55 GMT", datetime(2011, 10, 21, 11, 2, 55, tzinfo=UTC)),
        ("", None),
    ],
)
def test_provider_dates(text: str, expected: datetime | None) -> None:
    assert parse_date(text) == expected


@given(st.text(max_size=30))
def test_any_date_text_parses_or_is_rejected(text: str) -> None:
    try:
        moment = parse_date(text)
    except Reject:
        return
    assert moment is None or moment.tzinfo is not None


FIELD = st.text(st.characters(codec="utf-8"), max_size=20)
OBJECTS = st.lists(
    st.dictionaries(st.sampled_from(["email", "reason", "created"]), FIELD, min_size=1), max_size=30
)


@settings(max_examples=60)
@given(OBJECTS, st.sampled_from(["array", "items", "lines"]), st.integers(0, 3))
def test_json_exports_stream_to_the_same_objects(
    objects: list[dict[str, str]], shape: str, pad: int
) -> None:
    if shape == "array":
        text = json.dumps(objects, indent=pad or None)
    elif shape == "items":
        text = json.dumps({"items": objects, "paging": {"next": "https://x/?p=2"}, "n": 3})
    else:
        text = "\n".join(json.dumps(item) for item in objects)
    if not objects and shape == "lines":
        return
    found = [record.fields for record in records(io.StringIO(" " * pad + text))]
    assert found == [{k.lower(): v for k, v in item.items()} for item in objects]


def test_a_json_export_larger_than_a_chunk_streams(center: PreferenceCenter) -> None:
    items = [{"email": f"u{n}@example.com", "created": 1443651125 + n} for n in range(3000)]
    text = json.dumps(items)
    assert len(text) > 2 * _CHUNK
    found = list(records(io.StringIO(text)))
    assert [r.fields["email"] for r in found] == [i["email"] for i in items]
