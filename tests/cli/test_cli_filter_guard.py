"""`filter` never turns a list into an empty one quietly: wrong column, wrong encoding."""

from __future__ import annotations

import csv
import io

from tests.cli.conftest import Prefcenter, one_error_line

MOSTLY_INVALID = 4


def _wrong_column_list(rows: int) -> str:
    lines = ["email,name,contact"]
    lines += [f"Person {n},Person {n},person{n}@example.com" for n in range(rows)]
    return "\n".join(lines) + "\n"


def test_a_column_of_mostly_invalid_rows_is_refused_naming_the_address_columns(
    prefcenter_sqlite: Prefcenter,
) -> None:
    path = prefcenter_sqlite.tmp_path / "list.csv"
    path.write_text(_wrong_column_list(300))
    result = prefcenter_sqlite("filter", "list.csv", "-o", "out.csv")
    assert result.returncode == MOSTLY_INVALID
    assert one_error_line(result) == (
        "Error: Column 'email' of the list has 300 invalid addresses in 300 rows (100%), so "
        "the list would come out (nearly) empty; column 'contact' looks like addresses: "
        "pass --column contact, or --max-invalid 100 to filter it anyway."
    )
    assert not (prefcenter_sqlite.tmp_path / "out.csv").exists()
    right = prefcenter_sqlite("filter", "list.csv", "--column", "contact", "-o", "out.csv")
    assert right.returncode == 0, right.stderr
    anyway = prefcenter_sqlite("filter", "list.csv", "--max-invalid", "100", "-o", "out.csv")
    assert anyway.returncode == 0, anyway.stderr


def test_a_few_invalid_rows_still_pass(prefcenter_sqlite: Prefcenter) -> None:
    path = prefcenter_sqlite.tmp_path / "list.csv"
    path.write_text("email\na@example.com\nb@example.com\nnot-an-address\n")
    result = prefcenter_sqlite("filter", "list.csv", "-o", "out.csv")
    assert result.returncode == 0, result.stderr
    assert "invalid    1" in result.stdout


def test_a_latin_1_file_is_refused_naming_encoding(prefcenter_sqlite: Prefcenter) -> None:
    path = prefcenter_sqlite.tmp_path / "list.csv"
    rows = ["email"] + [f"user{n}@example.com" for n in range(5)] + ["josé@exämple.com"]
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    result = prefcenter_sqlite("filter", "list.csv", "-o", "out.csv")
    assert result.returncode == 2
    assert one_error_line(result) == (
        "Error: Row 6 of the list is not UTF-8 text (its address holds the byte 0xe9); "
        "pass --encoding with the file's encoding (cp1252 or latin-1 for most Western "
        "European spreadsheets) and run again."
    )
    fixed = prefcenter_sqlite("filter", "list.csv", "--encoding", "latin-1", "-o", "out.csv")
    assert fixed.returncode == 0, fixed.stderr
    assert (
        "josé@exämple.com".encode("latin-1")
        in (prefcenter_sqlite.tmp_path / "out.csv").read_bytes()
    )


def test_rejects_gets_every_refused_row_with_its_reason(prefcenter_sqlite: Prefcenter) -> None:
    prefcenter_sqlite("suppress", "gone@example.com", "--reason", "asked")
    path = prefcenter_sqlite.tmp_path / "list.csv"
    path.write_text(
        "name,email\r\nAnn,ann@example.com\r\nGus,gone@example.com\r\n"
        "Bad,nope\r\nAnn again,Ann@Example.com\r\nBea,bea@example.com\r\n"
    )
    result = prefcenter_sqlite("filter", "list.csv", "-o", "out.csv", "--rejects", "rejects.csv")
    assert result.returncode == 0, result.stderr
    rejected = (prefcenter_sqlite.tmp_path / "rejects.csv").read_bytes().decode()
    rows = list(csv.reader(io.StringIO(rejected, newline="")))
    assert rows == [
        ["reason", "name", "email"],
        ["unsubscribed_global", "Gus", "gone@example.com"],
        ["invalid", "Bad", "nope"],
        ["duplicate", "Ann again", "Ann@Example.com"],
    ]
    assert rejected.count("\r\n") == 4  # the rows as they were read
