"""Commands for the operations team: the exceptions queue and the report."""

from __future__ import annotations

from datetime import datetime

import click

from prefcenter.cli._app import Cli, When, emit_json, json_option, main, now, pass_cli
from prefcenter.model import ExceptionItem, Source, show_time

_STATUSES = ("open", "resolved", "dismissed", "all")


def _item_line(item: ExceptionItem, moment: datetime) -> str:
    due = "OVERDUE" if item.status == "open" and item.due_at < moment else "due"
    return (
        f"#{item.id}  {item.status}  received {show_time(item.received_at)}  "
        f"{due} {show_time(item.due_at)}  {item.mailbox}  {item.why}  {item.summary}"
    ).rstrip()


@main.group(invoke_without_command=False)
def exceptions() -> None:
    """The human queue: inbound mail the automation could not decide.

    \b
    Examples:
      prefcenter exceptions list
      prefcenter exceptions show 7
      prefcenter exceptions resolve 7 --suppress alice@example.com --reason "asked in reply"
    """


@exceptions.command("list")
@click.option("--status", type=click.Choice(_STATUSES), default="open", show_default=True,
              help="Which items to list.")  # fmt: skip
@json_option
@pass_cli
def list_exceptions(cli: Cli, status: str, as_json: bool) -> None:
    """List exceptions, overdue first, then oldest.

    \b
    Example:
      prefcenter exceptions list --json
    """
    items = cli.center().exceptions(status=None if status == "all" else status)
    if as_json:
        emit_json(items)
        return
    if not items:
        click.echo(f"no {'' if status == 'all' else status + ' '}exceptions")
    moment = now()
    for item in items:
        click.echo(_item_line(item, moment))


@exceptions.command("show")
@click.argument("item_id", metavar="ID", type=int)
@click.option("--raw", is_flag=True, help="Print only the message exactly as received.")
@json_option
@pass_cli
def show_exception(cli: Cli, item_id: int, raw: bool, as_json: bool) -> None:
    """Show one exception with the message as received.

    \b
    Example:
      prefcenter exceptions show 7
    """
    item = cli.center().exception(item_id)
    if raw:
        click.echo(item.raw, nl=False)
        return
    if as_json:
        emit_json({**_data(item), "raw": item.raw.decode("utf-8", "replace")})
        return
    click.echo(_item_line(item, now()))
    if item.resolution:
        click.echo(f"resolution: {item.resolution} ({show_time(item.resolved_at)})")
    click.echo("")
    click.echo(item.raw.decode("utf-8", "replace"))


def _data(item: ExceptionItem) -> dict[str, object]:
    from prefcenter.cli._app import to_data

    data: dict[str, object] = to_data(item)
    return data


@exceptions.command("resolve")
@click.argument("item_id", metavar="ID", type=int)
@click.option("--suppress", "address", metavar="ADDRESS", default=None,
              help="Suppress this address (the person the mail was from or about).")  # fmt: skip
@click.option("--dismiss", is_flag=True, help="Close without a change (spam, no request).")
@click.option("--reason", required=True, help="What was decided and why (audit trail).")
@pass_cli
def resolve_exception(
    cli: Cli, item_id: int, address: str | None, dismiss: bool, reason: str
) -> None:
    """Decide exception ID: --suppress ADDRESS or --dismiss, with a --reason.

    \b
    Example:
      prefcenter exceptions resolve 7 --suppress alice@example.com --reason "reply said stop"
    """
    if (address is None) == (not dismiss):
        raise click.UsageError("Give exactly one of --suppress ADDRESS or --dismiss.")
    item = cli.center().resolve_exception(
        item_id, suppress=address, dismiss=dismiss, reason=reason, source=Source.CLI
    )
    click.echo(f"#{item.id}  {item.status}")


@main.command()
@click.option("--since", type=When(), default=None,
              help="Start: 2024-05-01, an ISO time, or 7d (ago); default: everything.")  # fmt: skip
@click.option("--until", type=When(), default=None, help="End of the period; default: now.")
@json_option
@pass_cli
def report(cli: Cli, since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """Requests, time to honour, open exceptions and violations (contacts after an opt-out).

    \b
    Example:
      prefcenter report --since 30d --json
    """
    from prefcenter.report import build_report, format_report, report_data

    result = build_report(cli.center(), since=since, until=until)
    if as_json:
        emit_json(report_data(result))
    else:
        click.echo(format_report(result))


@main.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@json_option
@pass_cli
def purge(cli: Cli, dry_run: bool, as_json: bool) -> None:
    """Remove what is past its retention: closed exceptions' mail, old contact records.

    Suppressions and audit events stay. `prefcenter serve` runs this once a day; run
    it yourself to see what it would do, or where no server runs.

    \b
    Example:
      prefcenter purge --dry-run
    """
    done = cli.center().purge(dry_run=dry_run)
    if as_json:
        emit_json(
            {
                "dry_run": done.dry_run,
                "exceptions": done.exceptions,
                "contacts": done.contacts,
                "mail_before": done.mail_before.isoformat(),
                "contacts_before": done.contacts_before.isoformat(),
            }
        )
        return
    verb = ("would erase", "would delete") if dry_run else ("erased", "deleted")
    click.echo(
        f"{verb[0]} the mail of {done.exceptions} exception(s) closed before "
        f"{show_time(done.mail_before)}"
    )
    click.echo(
        f"{verb[1]} {done.contacts} contact record(s) from before {show_time(done.contacts_before)}"
    )
