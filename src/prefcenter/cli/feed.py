"""``prefcenter events`` (the change feed as JSON lines) and ``prefcenter webhooks``."""

from __future__ import annotations

import json
import time

import click

from prefcenter.cli._app import Cli, emit_json, json_option, main, pass_cli
from prefcenter.feed import MAX_PAGE, encode_cursor
from prefcenter.model import Source

#: Seconds between polls of ``--follow`` when nothing is new.
FOLLOW_POLL_S = 0.25


@main.command()
@click.option("--after", "cursor", metavar="CURSOR", default=None,
              help="Start after this cursor (the 'cursor' field of a printed line); "
              "default: the first event.")  # fmt: skip
@click.option("--from-end", is_flag=True, help="Start after the newest event (no history).")
@click.option("--follow", is_flag=True, help="Keep printing new events until interrupted.")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=MAX_PAGE, show_default=True,
              help="Events read per page.")  # fmt: skip
@pass_cli
def events(cli: Cli, cursor: str | None, from_end: bool, follow: bool, limit: int) -> None:
    """Print every change (audit event) in commit order, one JSON object per line.

    Each line carries a 'cursor': pass the last one to --after to resume exactly there.
    A clear address appears only where the store keeps it; otherwise identity_hash.

    \b
    Example:
      prefcenter events --follow | jq -c 'select(.kind == "suppress")'
    """
    center = cli.center()
    if from_end:
        if cursor:
            raise click.UsageError("--after and --from-end together: choose one.")
        cursor = center.feed_end()
    try:
        while True:
            page = center.feed(cursor, limit)
            for data, position in zip(page.events, page.positions, strict=True):
                data["cursor"] = encode_cursor(position)
                click.echo(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
            cursor = page.cursor
            if len(page.events) < limit:
                if not follow:
                    return
                time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        return


@main.group()
def webhooks() -> None:
    """The outgoing change webhooks' outbox (EVENTS_WEBHOOK_URL).

    \b
    Example:
      prefcenter webhooks status
    """


@webhooks.command("status")
@json_option
@pass_cli
def webhooks_status(cli: Cli, as_json: bool) -> None:
    """How many deliveries wait per endpoint, and how many are dead-lettered.

    \b
    Example:
      prefcenter webhooks status --json
    """
    counts = cli.center().webhook_outbox()
    rows = [
        {"endpoint": url.split("?", 1)[0], "state": state, "count": count}
        for (url, state), count in sorted(counts.items())
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no webhook deliveries waiting")
    for row in rows:
        click.echo(f"{row['endpoint']}  {row['state']} {row['count']}")


@webhooks.command("retry")
@pass_cli
def webhooks_retry(cli: Cli) -> None:
    """Queue the dead-lettered deliveries of configured endpoints again (`serve` sends them).

    \b
    Example:
      prefcenter webhooks retry
    """
    count = cli.center().retry_dead_webhooks()
    click.echo(f"queued {count} dead-lettered deliveries again")


@webhooks.command("discard")
@click.argument("endpoint")
@click.option("--yes", is_flag=True, help="Really delete them (without it: say how many).")
@pass_cli
def webhooks_discard(cli: Cli, endpoint: str, yes: bool) -> None:
    """Delete the dead-lettered deliveries of ENDPOINT, a URL removed from EVENTS_WEBHOOK_URL
    (as `webhooks status` shows it); audited. They can never be sent again.

    \b
    Example:
      prefcenter webhooks discard https://old-crm.example.com/hooks --yes
    """
    center = cli.center()
    if not yes:
        counts = center.webhook_outbox()
        dead = sum(n for (url, state), n in counts.items()
                   if state == "dead" and endpoint in (url, url.split("?", 1)[0]))  # fmt: skip
        raise click.ClickException(  # exit 1, nothing deleted
            f"{endpoint.split('?', 1)[0]} has {dead} dead-lettered deliveries; add --yes to "
            "delete them for good."
        )
    count = center.discard_dead_webhooks(endpoint, source=Source.CLI)
    click.echo(f"discarded {count} dead-lettered deliveries")


@webhooks.command("run")
@click.option("--parent", type=int, default=None, hidden=True,
              help="Exit when this process (the serve that started us) is gone.")  # fmt: skip
@pass_cli
def webhooks_run(cli: Cli, parent: int | None) -> None:
    """Deliver the outbox to EVENTS_WEBHOOK_URL until SIGTERM (`serve` starts this itself).

    \b
    Example:
      prefcenter webhooks run
    """
    import logging

    from prefcenter.webhooks import WebhookWorker
    from prefcenter.webhooks.process import run_worker

    settings = cli.settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if not settings.events_webhook_url:
        raise click.UsageError("EVENTS_WEBHOOK_URL is not set: there is nowhere to deliver.")
    run_worker(WebhookWorker(cli.center()), parent)
