"""``prefcenter operators``: who may use the operator console, and with which role."""

from __future__ import annotations

import sys

import click

from prefcenter.cli._app import Cli, emit_json, json_option, main, pass_cli
from prefcenter.model import show_time
from prefcenter.operators import ROLES, Operators, new_totp_secret, totp_uri
from prefcenter.store.console import Operator


def _password() -> str:
    """The password from the first line of standard input (never an argument: ps shows those)."""
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _line(operator: Operator) -> str:
    state = "disabled" if operator.disabled else "active"
    factor = "totp" if operator.totp_secret else "password"
    return (
        f"{operator.name}  {operator.role}  {state}  {factor}  "
        f"last login {show_time(operator.last_login_at)}"
    )


def _totp_note(cli: Cli, name: str, secret: str) -> None:
    uri = totp_uri(name, secret, cli.settings().company_name)
    click.echo(f"TOTP secret for {name}: {secret}", err=True)
    click.echo(f"add it to an authenticator app: {uri}", err=True)


@main.group()
def operators() -> None:
    """The operator console's users: add, list, disable, reset.

    \b
    Examples:
      printf '%s\\n' "$PASSWORD" | prefcenter operators add maria --role agent --password-stdin
      prefcenter operators list
      prefcenter operators disable maria
    """


@operators.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer reads; agent also changes people and works the queue; admin also "
              "lifts hard stops and forgets people.")  # fmt: skip
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password (12+ characters) from stdin's first line.")  # fmt: skip
@click.option("--totp", is_flag=True,
              help="Also require a TOTP code; prints the secret for an app.")  # fmt: skip
@pass_cli
def add(cli: Cli, name: str, role: str, password_stdin: bool, totp: bool) -> None:
    """Add an operator who logs in to the console with a password (and a TOTP code).

    \b
    Example:
      prefcenter operators add maria --role agent --password-stdin < password.txt
    """
    secret = new_totp_secret() if totp else None
    operator = Operators(cli.center()).add(name, role, _password(), totp_secret=secret)
    click.echo(f"added {_line(operator)}")
    if secret:
        _totp_note(cli, name, secret)


@operators.command("list")
@json_option
@pass_cli
def list_operators(cli: Cli, as_json: bool) -> None:
    """List operators with their role and state (never their password or TOTP secret).

    \b
    Example:
      prefcenter operators list
    """
    found = Operators(cli.center()).list()
    if as_json:
        emit_json(
            [
                {
                    "name": o.name,
                    "role": o.role,
                    "disabled": o.disabled,
                    "totp": o.totp_secret is not None,
                    "created_at": o.created_at,
                    "last_login_at": o.last_login_at,
                }
                for o in found
            ]
        )
        return
    if not found:
        click.echo("no operators; add one with `prefcenter operators add NAME --role admin "
                   "--password-stdin`")  # fmt: skip
    for operator in found:
        click.echo(_line(operator))


@operators.command("disable")
@click.argument("name")
@pass_cli
def disable(cli: Cli, name: str) -> None:
    """Stop an operator from logging in; their open console sessions end at once.

    \b
    Example:
      prefcenter operators disable maria
    """
    click.echo(f"disabled {_line(Operators(cli.center()).disable(name))}")


@operators.command("reset")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the new password from the first line of stdin.")  # fmt: skip
@click.option("--totp/--no-totp", default=None,
              help="New TOTP secret, or none; default: keep it.")  # fmt: skip
@pass_cli
def reset(cli: Cli, name: str, password_stdin: bool, totp: bool | None) -> None:
    """Set a new password (enabling a disabled operator again); open sessions end.

    \b
    Example:
      prefcenter operators reset maria --password-stdin < new-password.txt
    """
    secret = None if totp is None else new_totp_secret() if totp else ""
    operator = Operators(cli.center()).reset(name, _password(), totp_secret=secret)
    click.echo(f"reset {_line(operator)}")
    if secret:
        _totp_note(cli, name, secret)
