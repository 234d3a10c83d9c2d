"""Commands over many people at once: filter an uploaded list, export the suppressions."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from typing import IO, Any

import click

from prefcenter.cli._app import (
    Cli,
    When,
    channel_option,
    json_option,
    kind_option,
    main,
    pass_cli,
    to_data,
    topic_option,
)
from prefcenter.errors import InvalidInput, MostlyInvalid
from prefcenter.esp import EXPORT_FORMATS, provider_lines
from prefcenter.model import Suppression
from prefcenter.screening.csv.cells import neutralise
from prefcenter.screening.csv.listfilter import FilterSummary, filter_csv


@contextmanager
def _progress(path: str) -> Iterator[Callable[[int], None] | None]:
    """A byte-based progress bar on stderr, only when stderr is a terminal."""
    if path == "-" or not sys.stderr.isatty():
        yield None
        return
    size = os.path.getsize(path)
    with click.progressbar(length=size, label="filtering", file=sys.stderr) as bar:
        done = 0

        def update(position: int) -> None:
            nonlocal done
            bar.update(position - done)
            done = position

        yield update


@contextmanager
def _output(path: str, mode: str, encoding: str | None = None) -> Iterator[IO[Any]]:
    """``path`` opened for writing, or stdout for ``-``. A file is written atomically: it
    appears, whole, only when the command succeeds; on an error nothing is left behind
    (click's atomic file would put the part written so far in its place).

    Raises:
        InvalidInput: the file cannot be created (no such folder, no permission, ...).
    """
    if path == "-" or _special(path):
        # stdout, or a device or pipe (/dev/null, a FIFO): written in place. Replacing
        # it with a file would, for root, turn /dev/null into an ordinary file.
        with click.open_file(path, mode, encoding=encoding) as stream:
            yield stream
        return
    folder, name = os.path.split(os.path.abspath(path))
    try:
        permissions = os.stat(path).st_mode & 0o777  # an existing file keeps its own
    except OSError:
        permissions = 0o666  # less the umask, as for any new file
    partial = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.part")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, permissions)
    except OSError as error:
        raise InvalidInput(
            f"Cannot write {path!r}: {error.strerror or error}; "
            "pass -o with a file in a folder that exists and that you may write to.",
            value=path,
            reason="unwritable output",
        ) from None
    try:
        with os.fdopen(descriptor, mode, encoding=encoding) as handle:
            yield handle
        os.replace(partial, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(partial)
        raise


def _special(path: str) -> bool:
    """Whether ``path`` exists and is not a regular file (a device, a FIFO, a socket)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _summary_text(summary: FilterSummary) -> str:
    lines = [
        f"read       {summary.read}",
        f"sendable   {summary.sendable}",
        f"suppressed {summary.suppressed}",
    ]
    for reason, count in sorted(summary.refused.items()):
        if reason not in ("invalid", "duplicate"):
            lines.append(f"  {reason:<20} {count}")
    lines += [f"invalid    {summary.invalid}", f"duplicate  {summary.duplicate}"]
    column = summary.column if summary.header else f"#{summary.column} (no header)"
    lines.append(f"column     {column}")
    return "\n".join(lines)


@main.command("filter")
@click.argument(
    "path", metavar="LIST.csv", type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option("--column", default=None, help="Header name or 0-based index of the address.")
@topic_option("Topic the mailing is about; omitted: all marketing.")
@channel_option()
@kind_option
@click.option("-o", "--output", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="Where the sendable rows go; default: stdout.")  # fmt: skip
@click.option("--encoding", default=None, help="Text encoding; default: from a BOM, else UTF-8.")
@click.option("--rejects", default=None, type=click.Path(dir_okay=False, allow_dash=False),
              help="Write every refused row here, its reason as a first column.")  # fmt: skip
@click.option("--max-invalid", default=50, show_default=True, type=click.IntRange(0, 100),
              metavar="PERCENT",
              help="Refuse (exit 4) when more of the rows than this are invalid.")  # fmt: skip
@json_option
@pass_cli
def filter_command(
    cli: Cli,
    path: str,
    column: str | None,
    topic: str | None,
    channel: str,
    kind: str,
    output: str,
    encoding: str | None,
    rejects: str | None,
    max_invalid: int,
    as_json: bool,
) -> None:
    """Drop suppressed, invalid and duplicate people from LIST.csv; keep the rest unchanged.

    LIST.csv is a CSV with a header (the address column is found by name, or --column)
    or one address per line. Sendable rows are written byte for byte as read, cells
    that a spreadsheet would run as a formula included (a warning counts them). No line
    may be over a mebibyte. The summary goes to stdout when -o is given, else to stderr.

    Exit status 4 (and no output file) when more than --max-invalid percent of the rows
    hold no usable address: the wrong column, most likely; the message names the
    columns that look like addresses. A file that is not UTF-8 is refused naming
    --encoding.

    \b
    Example:
      prefcenter filter bought-list.csv --column email --topic offers -o sendable.csv
    """
    with ExitStack() as stack:
        # First, so that an output that cannot be written fails before any work.
        sink = stack.enter_context(_output(output, "wb"))
        refused = stack.enter_context(_output(rejects, "wb")) if rejects else None
        expected = _estimated_rows(path)
        screen = cli.center().screen(
            topic,
            channel=channel,
            kind=kind,
            expected_rows=expected,
            parallel=expected is not None and expected >= _PARALLEL_ROWS,
        )
        stack.enter_context(screen)
        source = stack.enter_context(click.open_file(path, "rb"))
        update = stack.enter_context(_progress(path))
        summary = filter_csv(
            source, sink, screen, column=column, encoding=encoding, on_progress=update,
            rejects=refused,
        )  # fmt: skip
        _refuse_mostly_invalid(summary, max_invalid)  # before the output file appears
    text = json.dumps(summary.as_dict(), indent=2) if as_json else _summary_text(summary)
    click.echo(text, err=output == "-")
    if summary.formula_cells:
        click.echo(
            f"warning: {summary.formula_cells} cells start with = + - @ tab or CR, which a "
            "spreadsheet may run as a formula; they are copied unchanged (import the file "
            "as text, or neutralise them before opening it in a spreadsheet)",
            err=True,
        )


def _refuse_mostly_invalid(summary: FilterSummary, max_invalid: int) -> None:
    """Raise MostlyInvalid when more than ``max_invalid`` percent of the rows are invalid."""
    if not summary.read or summary.invalid * 100 <= max_invalid * summary.read:
        return
    share = summary.invalid * 100 // summary.read
    column = repr(summary.column) if summary.header else f"#{summary.column}"
    others = summary.address_columns
    if others:
        names = ", ".join(repr(c) if summary.header else f"#{c}" for c in others)
        plural = "s" if len(others) > 1 else ""
        looks = "look" if len(others) > 1 else "looks"
        hint = f"column{plural} {names} {looks} like addresses: pass --column {others[0]}"
    else:
        hint = "no other column looks like addresses: check the file, or pass --column"
    raise MostlyInvalid(
        f"Column {column} of the list has {summary.invalid} invalid addresses in "
        f"{summary.read} rows ({share}%), so the list would come out (nearly) empty; "
        f"{hint}, or --max-invalid 100 to filter it anyway.",
        value=summary.column,
        reason="mostly invalid",
    )


def _estimated_rows(path: str) -> int | None:
    """About how many rows a list file holds (from its size), so a large list can use the
    screen's index from the start; None for standard input."""
    if path == "-":
        return None
    return os.path.getsize(path) // _BYTES_PER_ROW


#: A typical list row (an address and a few fields); only the order of magnitude matters.
_BYTES_PER_ROW = 64
#: Lists this long hash in a second process (starting it costs a few milliseconds).
_PARALLEL_ROWS = 100_000

_EXPORT_FIELDS = (
    "address", "channel", "scope", "topic", "reason", "source", "created_at",
    "all_channels", "identity_hash",
)  # fmt: skip


def _csv_lines(items: Iterator[Suppression]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # csv quotes a field holding the line terminator ("\n") but not a bare CR, which a
    # reader then takes for a line end: rows with one are written all quoted.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(_EXPORT_FIELDS)
    for item in items:
        data = to_data(item)
        # CSV injection: a planted address or reason must not run in a spreadsheet.
        row = [neutralise(str(_cell(data[name]))) for name in _EXPORT_FIELDS]
        (quoted if any("\r" in value for value in row) else writer).writerow(row)
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell: booleans as ``true``/``false`` (as in the JSON export), None empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _json_lines(items: Iterator[Suppression]) -> Iterator[str]:
    separator = "[\n"
    for item in items:
        yield separator + "  " + json.dumps(to_data(item), ensure_ascii=False)
        separator = ",\n"
    yield "[]\n" if separator == "[\n" else "\n]\n"


@main.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json", *EXPORT_FORMATS]), default="csv",
              show_default=True,
              help="Output format: ours (csv, json) or a provider's import file.")  # fmt: skip
@click.option("-o", "--output", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write; default: stdout.")  # fmt: skip
@click.option("--all", "include_unknown", is_flag=True,
              help="Also export suppressions whose address is not known (hash only; "
              "csv and json only).")  # fmt: skip
@click.option("--since", type=When(), default=None,
              help="Only suppressions made since: 2024-05-01, an ISO time, or 7d (ago), "
              "for incremental pushes.")  # fmt: skip
@pass_cli
def export(cli: Cli, fmt: str, output: str, include_unknown: bool, since: datetime | None) -> None:
    """Write the active suppressions, for syncing to an email service provider.

    A CSV cell that starts with = + - @ tab or CR gets a leading ' so that a spreadsheet
    shows it as text (CSV injection). Only suppressions whose address is known are
    exported unless --all is given. Links
    and mailto tokens carry only a hash, so an opt-out made through them has an address
    only if a sender, the CLI or the API named it; an erased person's opt-out holds by
    hash alone. How many were left out is said on stderr.

    --format sendgrid, ses, postmark or mailgun writes what that provider's suppression
    import takes (docs/import-export.md); with --since a cron line keeps it in sync.

    \b
    Example:
      prefcenter export --format csv -o suppressions.csv
      prefcenter export --format ses --since 1d -o ses-import.csv
    """
    hash_only = 0
    provider = fmt in EXPORT_FORMATS
    if provider and include_unknown:
        raise click.UsageError(f"--all needs an address-less format (csv, json), not {fmt}.")

    def chosen(items: Iterator[Suppression]) -> Iterator[Suppression]:
        nonlocal hash_only
        for item in items:
            if since is not None and item.created_at < since:
                continue
            if item.address or include_unknown:
                yield item
            else:
                hash_only += 1

    with _output(output, "w", encoding="utf-8") as sink:
        items = chosen(iter(cli.center().export()))
        if provider:
            lines = provider_lines(fmt, items)
        else:
            lines = _csv_lines(items) if fmt == "csv" else _json_lines(items)
        for chunk in lines:
            sink.write(chunk)
    if hash_only:
        click.echo(
            f"left out {hash_only} suppressions whose address is not stored (hash only); "
            "--all adds them, or run `prefcenter filter` on the provider's list instead",
            err=True,
        )
