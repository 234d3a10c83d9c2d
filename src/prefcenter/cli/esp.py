"""``prefcenter import``: a provider's suppression list, with its dates and reasons."""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING

import click

from prefcenter.cli._app import Cli, emit_json, json_option, main, pass_cli
from prefcenter.esp import FORMATS, KINDS, CountingReader, import_stream
from prefcenter.esp.providers import kind_from_name

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar  # the type click.progressbar returns


@contextmanager
def _source(
    path: str, temp_dir: str | None
) -> Iterator[tuple[IO[str], CountingReader | None, int]]:
    """The file as text (a seekable one, read in chunks), its byte counter and size."""
    if path == "-":
        # Standard input cannot seek (the peek at the first character needs to): it is
        # copied to a temporary file a block at a time, so memory stays flat here too.
        with tempfile.TemporaryFile(dir=temp_dir) as copy:
            shutil.copyfileobj(sys.stdin.buffer, copy, 1 << 20)
            size = copy.tell()
            copy.seek(0)
            counter = CountingReader(copy)
            text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), "utf-8-sig", newline="")
            yield text, counter, size
        return
    with open(path, "rb") as raw:
        counter = CountingReader(raw)
        text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), "utf-8-sig", newline="")
        yield text, counter, os.path.getsize(path)


@main.command("import")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="Whose export FILE is (csv: address plus optional kind, topic, reason, "
              "date columns).")  # fmt: skip
@click.option("--list", "kind", type=click.Choice(KINDS), default=None,
              help="Which list FILE holds; default: from its columns or its name "
              "(e.g. sendgrid_blocks.csv).")  # fmt: skip
@click.option("--topic", default=None,
              help="Make the file's unsubscribes opt-outs of this topic instead of all "
              "marketing.")  # fmt: skip
@click.option("--rejects", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the rows left out, with why, to this CSV file.")  # fmt: skip
@click.option(
    "--no-header",
    is_flag=True,
    help="FILE has no header row: address,reason per line (SES's import file).",
)
@click.option("--temp-dir", type=click.Path(exists=True, file_okay=False, writable=True),
              default=None, help="Where the import keeps its rows between reading and "
              "writing (about the export's size; default: $TMPDIR).")  # fmt: skip
@json_option
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False,
                allow_dash=True))  # fmt: skip
@pass_cli
def import_(
    cli: Cli,
    fmt: str,
    kind: str | None,
    topic: str | None,
    rejects: str | None,
    no_header: bool,
    temp_dir: str | None,
    as_json: bool,
    path: str,
) -> None:
    """Import an email provider's suppression export, keeping its dates and reasons.

    Bounces, blocks and spam reports become hard suppressions, unsubscribes global ones,
    group unsubscribes topic opt-outs; each is an audited change with source 'import',
    the provider's date as requested_at. Importing the same file again changes nothing.
    The formats and where each provider's export comes from: docs/import-export.md.

    \b
    Example:
      prefcenter import --format sendgrid --rejects rejected.csv sendgrid_bounces.csv
    """
    center = cli.center()
    chosen = kind or (kind_from_name(path) if fmt in ("sendgrid", "mailgun") else None)
    with ExitStack() as stack:
        text, counter, size = stack.enter_context(_source(path, temp_dir))
        writer = None
        if rejects is not None:
            sink = stack.enter_context(open(rejects, "w", encoding="utf-8", newline=""))
            writer = csv.writer(sink)
            writer.writerow(["row", "why", "fields"])

        def on_reject(number: int, why: str, fields: dict[str, str]) -> None:
            if writer is not None:
                shown = ";".join(f"{k}={v}" for k, v in fields.items())
                writer.writerow([number, why, shown])

        on_chunk = on_write = None
        if counter is not None and size and sys.stderr.isatty():
            reading = stack.enter_context(
                click.progressbar(length=size, label="reading ", file=sys.stderr)
            )
            done = 0
            bars: list[ProgressBar[int]] = []

            def on_chunk() -> None:
                nonlocal done
                reading.update(counter.count - done)
                done = counter.count

            def on_write(written: int, total: int) -> None:
                # Pass two (rows in hash order, a key range a transaction): its own bar.
                if not bars:
                    reading.render_finish()
                    bar = click.progressbar(length=total, label="writing ", file=sys.stderr)
                    bars.append(stack.enter_context(bar))
                bars[0].update(written - bars[0].pos)

        summary = import_stream(
            center,
            text,
            fmt,
            header=not no_header,
            kind=chosen,
            topic=topic,
            on_reject=on_reject,
            on_chunk=on_chunk,
            on_write=on_write,
            spool_dir=temp_dir,
            parallel=True,
        )
    if as_json:
        emit_json(summary.as_dict())
        return
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.by_kind.items())) or "none"
    click.echo(
        f"{summary.rows} rows: {summary.added} suppressions added ({kinds}), "
        f"{summary.known} already known, {summary.rejected} left out"
        + (f" (see {rejects})" if summary.rejected and rejects else ""),
        err=True,
    )
