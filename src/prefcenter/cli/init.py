"""``prefcenter init``: create (or upgrade) the store and say where its keys live."""

from __future__ import annotations

import os

import click

from prefcenter.cli._app import Cli, main, pass_cli


@main.command()
@pass_cli
def init(cli: Cli) -> None:
    """Create the store DATABASE names (or upgrade its schema) and print where the keys are.

    Safe to run again: an existing store is only upgraded. Without SECRET and PEPPER
    set, development keys are generated once beside a SQLite store (or in VAR_DIR), and
    every later command finds them there, from any working directory.

    \b
    Examples:
      prefcenter init
      prefcenter --database sqlite:////srv/prefcenter/prefcenter.db init
    """
    from prefcenter.store.postgres import has_store, redact

    url = cli.settings().database
    sqlite = url.startswith("sqlite:///")
    existed = os.path.exists(url[len("sqlite:///") :]) if sqlite else has_store(url)
    cli.center()  # opening creates or upgrades the schema
    shown = url if sqlite else redact(url)
    if sqlite:
        shown += f"  ({os.path.abspath(url[len('sqlite:///') :])})"
    click.echo(f"store  {shown}  {'ready (schema up to date)' if existed else 'created'}")
    settings = cli.settings()
    dev = [name for name in ("secret", "pepper") if settings.dev_key_file(name) is not None]
    if dev:
        folder = os.path.abspath(settings.var_path)
        click.echo(
            f"keys   development {' and '.join(dev)} in {folder}; in production set "
            "PREFCENTER_SECRET and PREFCENTER_PEPPER (see sidecar/prefcenter.env)"
        )
    if len(dev) < 2:
        given = [name.upper() for name in ("secret", "pepper") if name not in dev]
        click.echo(f"keys   {' and '.join(given)} from the settings (environment or config file)")
