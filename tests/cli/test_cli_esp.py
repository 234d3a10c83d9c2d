"""``prefcenter import`` and the provider formats of ``prefcenter export``, as a shell runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from prefcenter.model import Source
from tests.cli.conftest import Prefcenter

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"


def test_import_then_again_changes_nothing_and_rejects_are_written(prefcenter: Prefcenter) -> None:
    rejects = prefcenter.tmp_path / "rejects.csv"
    first = prefcenter("import", "--format", "sendgrid", "--rejects", str(rejects), "--json",
                       str(DATA / "sendgrid_bounces.csv"))  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "rows": 3, "added": 2, "already_known": 0, "rejected": 1, "by_kind": {"bounce": 2}
    }  # fmt: skip
    with rejects.open(encoding="utf-8") as written:
        rows = list(csv.reader(written))
    assert rows[0] == ["row", "why", "fields"] and rows[1][0] == "4"
    assert "not-an-address" in rows[1][2]
    again = prefcenter("import", "--format", "sendgrid", str(DATA / "sendgrid_bounces.csv"))
    assert again.returncode == 0
    assert "0 suppressions added (none), 2 already known, 1 left out" in again.stderr


def test_the_list_comes_from_the_file_name_or_the_option(prefcenter: Prefcenter) -> None:
    done = prefcenter(
        "import", "--format", "sendgrid", "--json", str(DATA / "sendgrid_blocks.json")
    )
    assert json.loads(done.stdout)["by_kind"] == {"block": 2}
    forced = prefcenter("import", "--format", "csv", "--list", "unsubscribe", "--topic", "news",
                        "--json", str(DATA / "generic.csv"))  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    with prefcenter.center() as center:
        assert center.suppressions("xavier@example.com")[0].topic == "news"


def test_import_from_standard_input_is_the_same_as_from_the_file(prefcenter: Prefcenter) -> None:
    text = (DATA / "sendgrid_spam_reports.csv").read_text(encoding="utf-8")
    piped = prefcenter("import", "--format", "sendgrid", "--json", "-", input=text)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == {
        "rows": 2, "added": 2, "already_known": 0, "rejected": 0, "by_kind": {"spam": 2}
    }  # fmt: skip
    again = prefcenter("import", "--format", "sendgrid", "--json",
                       str(DATA / "sendgrid_spam_reports.csv"))  # fmt: skip
    assert json.loads(again.stdout)["already_known"] == 2


def test_ses_import_file_without_a_header(prefcenter: Prefcenter) -> None:
    done = prefcenter(
        "import", "--format", "ses", "--no-header", "--json", str(DATA / "ses_import.csv")
    )
    assert json.loads(done.stdout)["rejected"] == 1


def test_export_for_each_provider(prefcenter: Prefcenter) -> None:
    with prefcenter.center() as center:
        center.suppress("hard@example.com", hard=True, source=Source.BOUNCE, reason="550 no user")
        center.suppress("global@example.com", source=Source.ONE_CLICK)
        center.suppress("topic@example.com", topic="deals", source=Source.WEB)
    sendgrid = prefcenter("export", "--format", "sendgrid").stdout.splitlines()
    assert sendgrid[0] == "email,group" and "topic@example.com,deals" in sendgrid
    ses = prefcenter("export", "--format", "ses").stdout.splitlines()
    assert sorted(ses) == ["global@example.com,COMPLAINT", "hard@example.com,BOUNCE"]
    mailgun = list(csv.reader(prefcenter("export", "--format", "mailgun").stdout.splitlines()))
    assert mailgun[0] == ["address", "tags", "created_at"]
    assert {row[0]: row[1] for row in mailgun[1:]}["topic@example.com"] == "deals"
    postmark = [
        json.loads(line)
        for line in prefcenter("export", "--format", "postmark").stdout.splitlines()
    ]
    assert sorted(s["EmailAddress"] for body in postmark for s in body["Suppressions"]) == [
        "global@example.com", "hard@example.com", "topic@example.com"
    ]  # fmt: skip
    assert prefcenter("export", "--format", "ses", "--since", "2999-01-01").stdout == ""
    refused = prefcenter("export", "--format", "ses", "--all")
    assert refused.returncode == 2 and "--all" in refused.stderr


def test_the_rows_wait_in_the_temporary_directory_asked_for(
    prefcenter_sqlite: Prefcenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from prefcenter.cli import main
    from prefcenter.esp import importer
    from prefcenter.esp.spool import HashSpool

    used: list[str | None] = []

    class Recorded(HashSpool):
        def __init__(self, width: int, directory: str | None = None) -> None:
            used.append(directory)
            super().__init__(width, directory)

    monkeypatch.setattr(importer, "HashSpool", Recorded)
    spool = prefcenter_sqlite.tmp_path / "spool"
    spool.mkdir()
    text = (DATA / "sendgrid_spam_reports.csv").read_text(encoding="utf-8")
    runner = CliRunner()
    env = prefcenter_sqlite.environment()
    done = runner.invoke(
        main, ["import", "--format", "sendgrid", "--temp-dir", str(spool), "--json", "-"],
        input=text, env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["added"] == 2
    assert used == [str(spool)]
    assert list(spool.iterdir()) == []  # removed at the end
    missing = runner.invoke(
        main, ["import", "--format", "sendgrid", "--temp-dir", str(spool / "nowhere"), "-"],
        input=text, env=env,
    )  # fmt: skip
    assert missing.exit_code == 2
    assert "nowhere" in missing.output and "does not exist" in missing.output
