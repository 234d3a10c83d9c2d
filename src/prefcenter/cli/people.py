"""Commands about one person: check, suppress, resubscribe, history, forget, link, record-sent."""

from __future__ import annotations

from datetime import datetime

import click

from prefcenter.cli._app import (
    Cli,
    When,
    channel_option,
    emit_json,
    json_option,
    kind_option,
    main,
    pass_cli,
    to_data,
    topic_option,
)
from prefcenter.model import Action, Decision, Event, Scope, Source, show_time


def _describe(decision: Decision) -> str:
    if decision.allowed:
        return "allowed"
    detail = [decision.reason.value]
    if decision.since is not None:
        detail.append(f"since {show_time(decision.since)}")
    if decision.source is not None:
        detail.append(f"via {decision.source.value}")
    if decision.until is not None:
        detail.append(f"until {show_time(decision.until)}")
    return f"refused  {'  '.join(detail)}  ({decision.message})"


@main.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@topic_option()
@channel_option()
@kind_option
@json_option
@pass_cli
def check(
    cli: Cli, addresses: tuple[str, ...], topic: str | None, channel: str, kind: str, as_json: bool
) -> None:
    """May each ADDRESS be contacted now? If not: why, since when, from where.

    Exit status 0 when every address may be contacted, 1 when any may not, 2 on bad input.

    \b
    Example:
      prefcenter check alice@example.com bob@example.com --topic newsletter
    """
    center = cli.center()
    for address in addresses:  # all bad input fails before any answer is printed
        center.identity(address, channel)
    decisions = [center.check(a, topic, channel=channel, kind=kind) for a in addresses]
    pairs = list(zip(addresses, decisions, strict=True))
    if as_json:
        emit_json([{"address": address, **to_data(decision)} for address, decision in pairs])
    else:
        for address, decision in pairs:
            click.echo(f"{address}  {_describe(decision)}")
    click.get_current_context().exit(0 if all(d.allowed for d in decisions) else 1)


@main.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@topic_option("Suppress only this topic (list); omitted: all marketing.")
@channel_option()
@click.option("--hard", is_flag=True, help="Stop everything, transactional included.")
@click.option("--all-channels", is_flag=True, help="Also stop the person's linked identities.")
@click.option("--reason", default="", help="Why, for the audit trail.")
@pass_cli
def suppress(
    cli: Cli,
    addresses: tuple[str, ...],
    topic: str | None,
    channel: str,
    hard: bool,
    all_channels: bool,
    reason: str,
) -> None:
    """Stop contacting each ADDRESS (all marketing, one --topic, or --hard: everything).

    \b
    Example:
      prefcenter suppress alice@example.com --topic newsletter --reason "asked by phone"
    """
    center, evidence = cli.center(), cli.evidence()
    for address in addresses:
        center.identity(address, channel)
    for address in addresses:
        changed = center.suppress(
            address, topic=topic, channel=channel, hard=hard, all_channels=all_channels,
            reason=reason, source=Source.CLI, evidence=evidence, requested_at=None,
        )  # fmt: skip
        click.echo(f"{address}  {'suppressed' if changed else 'already suppressed'}")


@main.command()
@click.argument("address")
@topic_option("Resubscribe to this topic only; omitted: lift the all-marketing opt-out.")
@channel_option()
@click.option("--hard", is_flag=True, help="Lift a hard suppression (bounce, complaint) instead.")
@click.option("--reason", required=True, help="Why (required: the consent proof).")
@pass_cli
def resubscribe(
    cli: Cli, address: str, topic: str | None, channel: str, hard: bool, reason: str
) -> None:
    """Lift ADDRESS's opt-out (or with --hard its hard suppression); --reason is required.

    Nothing lifted writes no audit event. When the person is still refused afterwards,
    a second line says by what and how to lift it. Exit status 0 when the person may
    now be contacted, 1 when something still blocks them, 2 on bad input.

    \b
    Examples:
      prefcenter resubscribe alice@example.com --reason "signed up again at the shop, ticket 4711"
      prefcenter resubscribe bob@example.com --hard --reason "mailbox works again, ticket 4712"
    """
    center = cli.center()
    changed = center.resubscribe(
        address, topic=topic, channel=channel, reason=reason, hard=hard,
        source=Source.CLI, evidence=cli.evidence(),
    )  # fmt: skip
    decision = center.check(address, None if hard else topic, channel=channel)
    blocked = not decision.allowed and decision.scope is not None
    if changed:
        click.echo(f"{address}  resubscribed")
    else:
        click.echo(f"{address}  {'nothing lifted' if blocked else 'was not suppressed'}")
    if blocked:
        stored = center.suppressions(address, channel=channel)
        why = next((s.reason for s in stored if s.scope is decision.scope and s.reason), "")
        click.echo(f"{address}  still refused: {_blocker(decision, why, hard)}")
    click.get_current_context().exit(1 if blocked else 0)


_SCOPE_WORDS = {
    Scope.HARD: "hard suppression",
    Scope.GLOBAL: "unsubscribed from all marketing",
    Scope.TOPIC: "unsubscribed from this topic",
}


def _blocker(decision: Decision, why: str, hard: bool) -> str:
    """What still refuses the person, and the command that would lift it."""
    assert decision.scope is not None
    parts = [_SCOPE_WORDS[decision.scope]]
    if decision.since is not None:
        parts.append(f"since {show_time(decision.since)}")
    if decision.source is not None:
        parts.append(f"via {decision.source.value}")
    if why:
        parts.append(f"({why!r})")
    if decision.scope is Scope.HARD:
        fix = "lift it with --hard (and a reason: proof the address works again)."
    elif decision.scope is Scope.GLOBAL:
        fix = "lift it without --hard and --topic." if hard else "lift it without --topic."
    else:
        fix = "lift it with --topic and without --hard."
    return f"{' '.join(parts)}; {fix}"


def _event_line(event: Event) -> str:
    parts = [show_time(event.at), event.action.value, event.source.value]
    if event.channel is not None:
        parts.append(event.channel.value)
    if event.scope is not None:
        parts.append(f"scope={event.scope.value}")
    if event.topic:
        parts.append(f"topic={event.topic}")
    if event.requested_at is not None:
        parts.append(f"requested {show_time(event.requested_at)}")
    if event.evidence:
        parts.append(f"evidence={event.evidence}")
    if event.reason:
        parts.append(f"reason={event.reason!r}")
    if event.detail:
        parts.append(f"detail={event.detail}")
    return "  ".join(parts)


@main.command()
@click.argument("address")
@channel_option()
@json_option
@pass_cli
def history(cli: Cli, address: str, channel: str, as_json: bool) -> None:
    """The audit trail of ADDRESS in time order: every change, who made it, the evidence.

    \b
    Example:
      prefcenter history alice@example.com
    """
    events = cli.center().history(address, channel=channel)
    if as_json:
        emit_json(events)
        return
    if not events:
        click.echo("no events recorded for this address")
    for event in events:
        click.echo(_event_line(event))


@main.command()
@click.argument("address")
@channel_option()
@pass_cli
def forget(cli: Cli, address: str, channel: str) -> None:
    """Erase ADDRESS's personal data (GDPR); the opt-out itself keeps working.

    Identities linked to ADDRESS (the same person on another channel) are erased too,
    and so is queued mail naming any of them, in any spelling of the address.

    Every request is recorded in the audit trail, also for an address never stored or
    already forgotten, so an erasure request stays provable.

    \b
    Example:
      prefcenter forget alice@example.com
    """
    center = cli.center()
    before = center.history(address, channel=channel)
    # Sends store the address too, without an event: a ledger row means it was stored.
    sent = center.contacted(address, channel=channel)
    changed = center.forget(address, channel=channel, source=Source.CLI, evidence=cli.evidence())
    outcome = _forget_outcome(before, sent, changed)
    forgets = [e for e in center.history(address, channel=channel) if e.action is Action.FORGET]
    linked = len(forgets[-1].detail.split()) if changed and forgets else 0
    if linked:
        outcome += f", with {linked} linked identit{'y' if linked == 1 else 'ies'}"
    click.echo(f"{address}  {outcome}")


def _forget_outcome(before: list[Event], sent: bool, changed: bool) -> str:
    # forget() says only whether the store changed, and marking a never-seen address as
    # forgotten (so it is never stored) counts: the history and sends before it tell the
    # cases apart.
    if not before and not sent:
        return "no history for this address; erasure request recorded"
    if changed:
        return "forgotten"
    earlier = [event.at for event in before if event.action is Action.FORGET]
    if earlier:
        return f"already forgotten on {show_time(earlier[0])}; erasure request recorded"
    return "nothing stored to erase; erasure request recorded"


@main.command()
@click.argument("address")
@topic_option()
@channel_option()
@click.option("--lang", default=None, metavar="LANG",
              help="Language of the pages the links open (de, fr, es, pt, ja); default: "
              "the browser's, else LANGUAGE.")  # fmt: skip
@json_option
@pass_cli
def link(
    cli: Cli, address: str, topic: str | None, channel: str, lang: str | None, as_json: bool
) -> None:
    """Print the unsubscribe headers, links and return path for one recipient of a --topic.

    For --channel sms or voice only the two links (url, preferences): a text or a call
    has no headers, mailto or return path, and the pages speak of texts and calls.

    \b
    Examples:
      prefcenter link alice@example.com --topic newsletter --json
      prefcenter link +14155550100 --channel sms --topic offers
    """
    made = cli.center().message_links(address, topic, channel=channel, lang=lang)
    data = dict(made.get("headers", {}))
    data["url"] = made["unsubscribe_url"]
    data["preferences"] = made["preferences_url"]
    if "mailto" in made:
        # As in the List-Unsubscribe header: a mail client opens it with the subject set.
        data["mailto"] = f"mailto:{made['mailto']}?subject=unsubscribe"
        data["return_path"] = made["return_path"]  # the VERP envelope sender
    if as_json:
        emit_json(data)
        return
    for name, value in data.items():
        click.echo(f"{name}: {value}")


@main.command("link-identities")
@click.argument("first", metavar="ADDRESS_A")
@click.argument("second", metavar="ADDRESS_B")
@channel_option("--first-channel")
@channel_option("--second-channel")
@pass_cli
def link_identities(
    cli: Cli, first: str, second: str, first_channel: str, second_channel: str
) -> None:
    """Record that ADDRESS_A and ADDRESS_B are one person (for --all-channels opt-outs).

    \b
    Example:
      prefcenter link-identities alice@example.com +14155550100 --second-channel sms
    """
    changed = cli.center().link(
        first, second, first_channel=first_channel, second_channel=second_channel,
        source=Source.CLI, evidence=cli.evidence(),
    )  # fmt: skip
    click.echo("linked" if changed else "already linked")


@main.command("record-sent")
@click.argument("address")
@channel_option()
@topic_option("Topic the contact was about.")
@kind_option
@click.option("--sender", default=None, help="Who sent it (system, team or agent).")
@click.option("--message-id", default=None, help="The message or call id.")
@click.option("--at", "at", type=When(), default=None, help="When it was sent; default: now.")
@pass_cli
def record_sent(
    cli: Cli,
    address: str,
    channel: str,
    topic: str | None,
    kind: str,
    sender: str | None,
    message_id: str | None,
    at: datetime | None,
) -> None:
    """Record that ADDRESS was contacted, for frequency caps and the violation report.

    \b
    Example:
      prefcenter record-sent +14155550100 --channel voice --topic offers --sender agent-17
    """
    cli.center().record_sent(
        address, channel=channel, topic=topic, kind=kind, at=at, sender=sender,
        message_id=message_id,
    )  # fmt: skip
    click.echo(f"{address}  recorded")
