"""``prefcenter migrate --to URL``: copy the whole store into another (SQLite to PostgreSQL)."""

from __future__ import annotations

import click

from prefcenter.cli._app import Cli, main, pass_cli


@main.command()
@click.option("--to", "target", metavar="URL", required=True,
              help="The empty store to fill, e.g. postgresql://user@db/prefcenter.")  # fmt: skip
@click.option("--chunk-size", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Rows per round trip.")  # fmt: skip
@pass_cli
def migrate(cli: Cli, target: str, chunk_size: int) -> None:
    """Copy every table (audit events included) of the store into an empty one.

    The copy runs in one transaction on the target and is committed only when every
    table's row count equals the source's; otherwise nothing is kept. Stop the sidecar
    and senders first, then point DATABASE at the new store.

    \b
    Example:
      prefcenter --database sqlite:///var/prefcenter.db migrate \\
        --to postgresql://prefcenter@db.internal/prefcenter
    """
    from prefcenter.store.migrate import migrate as copy_store

    settings = cli.settings()

    def progress(table: str, rows: int) -> None:
        click.echo(f"  {table}: {rows} rows", err=True)

    report = copy_store(
        settings.database, target, settings, chunk_size=chunk_size, progress=progress
    )
    for table, rows in report.counts.items():
        click.echo(f"{table:<14} {rows:>12}")
    click.echo(f"copied {report.total} rows from {report.source} to {report.target}; counts match")
