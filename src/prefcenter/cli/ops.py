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


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--to", "to", default=None, metavar="ADDRESS",
              help="The mailbox it arrived at; default bounces@ of MAIL_DOMAIN.")  # fmt: skip
@click.option("--mail-from", default="", show_default=True, metavar="SENDER",
              help="The SMTP envelope sender; \"\" is the null sender <> of bounces.")  # fmt: skip
@json_option
@pass_cli
def explain(cli: Cli, file: str, to: str | None, mail_from: str, as_json: bool) -> None:
    """What the SMTP sidecar would do with the message in FILE, and why; changes nothing.

    Prints the kind of message (bounce, complaint, auto-reply...), its layout, each
    failed recipient with the reason and status, the proof that it concerns a message
    we sent (our token or a recorded Message-ID) and the action the bounce policy would
    take. For operators and for bug reports; the store is only read.

    \b
    Examples:
      prefcenter explain bounce.eml
      prefcenter explain --to fbl@unsub.example.com report.eml --json
    """
    from prefcenter.inbound.explain import explain as explain_message
    from prefcenter.inbound.inbox import Inbox
    from prefcenter.inbound.mailbox import parse_recipient

    center = cli.center()
    domain = center.settings.mail_domain
    address = to or f"bounces@{domain}"
    mailbox = parse_recipient(address, domain)
    if mailbox is None:
        raise click.BadParameter(
            f"{address!r} is not one of the sidecar's mailboxes at {domain}; give "
            f"bounces@{domain}, fbl@{domain}, unsubscribe@{domain} or a tokened address.",
            param_hint="--to",
        )
    with click.open_file(file, "rb") as handle:
        raw = handle.read()
    found = explain_message(Inbox(center), raw, mailbox, mail_from)
    if as_json:
        emit_json(found)
        return
    click.echo(f"mailbox: {found.mailbox}")
    click.echo(f"kind: {found.kind}{f' ({found.format})' if found.format else ''}")
    for line in found.recipients:
        status = f" {line.status}" if line.status else ""
        lasting = "permanent" if line.permanent else "temporary"
        click.echo(
            f"recipient: {line.address or '?'}  {line.kind}  {line.reason}{status}  {lasting}"
        )
        if line.diagnostic:
            click.echo(f"  said: {line.diagnostic}")
    if found.proof:
        click.echo(f"proof: {found.proof} (identity {found.proven_identity})")
    elif found.why_not_proven:
        click.echo(f"proof: none ({found.why_not_proven})")
    if found.source_ip:
        click.echo(f"source ip: {found.source_ip}")
    click.echo(f"action: {found.action}")
