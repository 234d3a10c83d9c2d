"""The ``prefcenter`` click group: global options, the center it opens, and error mapping.

Every command is a thin skin over one :class:`~prefcenter.center.PreferenceCenter` (or
report) method, so a change made here writes the same audit event as any other way in.
The center is imported and opened only when a command needs it, which keeps
``prefcenter --help`` fast and ``import prefcenter.cli`` light.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import click

from prefcenter.errors import (
    MostlyInvalid,
    PrefcenterError,
    StoreMisconfigured,
    StoreUnavailable,
    WorkerFailed,
)
from prefcenter.model import Channel, Kind

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.config import Settings

F = TypeVar("F", bound=Callable[..., Any])

#: Exit status per error class, most specific first. Usage errors (click) also exit 2;
#: ``check`` exits 1 when anyone may not be contacted.
EXIT_CODES: tuple[tuple[type[PrefcenterError], int], ...] = (
    # A setting or a grant to fix: running the command again would fail again.
    (StoreMisconfigured, 2),
    # Temporary: nothing was written, the same command can simply be run again.
    (StoreUnavailable, 3),
    (WorkerFailed, 3),
    # `filter`: most rows of the chosen column are not addresses (the wrong column?).
    (MostlyInvalid, 4),
    (PrefcenterError, 2),
)


def exit_code(error: PrefcenterError) -> int:
    """The exit status for ``error``: the one place errors become exit codes."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return 2


#: The group's own options, also accepted after the command (``prefcenter check X --database U``).
GLOBAL_OPTIONS = ("--database", "--config")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move ``--database``/``--config`` (``--opt VALUE`` or ``--opt=VALUE``) written after
    the command to the front, where click reads the group's options. After ``--`` nothing
    is moved: that is the command's own data."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and rest:
            if "=" in arg:
                front.append(arg)
            else:
                front += args[index : index + 2]
                index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


class PrefcenterGroup(click.Group):
    """A click group that turns prefcenter errors into one line on stderr, no traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PrefcenterError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(exit_code(error))
        except BrokenPipeError:
            # `prefcenter filter big.csv | head`: the reader left; stop quietly, as cat does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except OSError as error:
            # The output could not be written (a full disk, a closed terminal): the store
            # is not touched by that, so say what failed and let the command be rerun.
            what = repr(error.filename) if error.filename else "the output"
            click.echo(
                f"Error: Cannot write {what}: {error.strerror or error}; "
                "free some space or choose another output, then run the command again.",
                err=True,
            )
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing to flush
            ctx.exit(2)


@dataclass
class Cli:
    """What every command receives: the settings overrides and a lazily opened center."""

    overrides: dict[str, Any] = field(default_factory=dict)
    config_file: str | None = None
    _center: PreferenceCenter | None = None
    _settings: Settings | None = None

    def settings(self) -> Settings:
        """Settings from the global options > environment > config file > defaults.

        For a command that may not create the store, a missing SQLite file is refused
        before anything is written (development keys included).
        """
        if self._settings is None:
            from prefcenter.config import load_settings, with_dev_keys
            from prefcenter.store import require_existing

            settings = load_settings(
                self.overrides, config_file=self.config_file, generate_dev_keys=False
            )
            command = _command_name()
            if command not in CREATES_STORE:
                require_existing(settings.database, command=f"prefcenter {command}")
            _refuse_a_new_pepper_for_an_old_store(settings)
            self._settings = with_dev_keys(settings)
        return self._settings

    def center(self) -> PreferenceCenter:
        """The center, opened on first use and closed when the command ends."""
        if self._center is None:
            from prefcenter.center import PreferenceCenter

            self._center = PreferenceCenter(self.settings())
        return self._center

    def close(self) -> None:
        """Close the center if a command opened one."""
        if self._center is not None:
            self._center.close()
            self._center = None

    def evidence(self) -> str:
        """Who ran this command, plus an id unique to this run (so a repeat is not a replay)."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return f"cli:{user}@{socket.gethostname()}:{uuid.uuid4().hex[:12]}"


pass_cli = click.make_pass_decorator(Cli)


def _refuse_a_new_pepper_for_an_old_store(settings: Settings) -> None:
    """A development pepper generated now could match nothing in an existing SQLite store.

    Raises:
        ConfigError: naming PREFCENTER_VAR_DIR, where it looked and where the store is.
    """
    from prefcenter.errors import ConfigError

    if settings.pepper is not None or not settings.database.startswith("sqlite:///"):
        return
    store = settings.database[len("sqlite:///") :]
    looked = settings.var_path / "pepper"
    if not os.path.exists(store) or looked.exists() or looked.parent.is_file():
        return  # (a VAR_DIR that is a file gets its own error when the key is written)
    beside = os.path.dirname(os.path.abspath(store))
    raise ConfigError(
        f"Store {settings.database!r} exists, but PEPPER is not set and there is no "
        f"development key file {os.path.abspath(looked)!r}: a new pepper would match none of "
        f"its opt-outs. Point PREFCENTER_VAR_DIR at the directory holding this store's "
        f"keys (they are made beside the store, in {beside!r}), or set PREFCENTER_PEPPER "
        "to the pepper the store was made with.",
        name="var_dir",
        value=str(looked.parent),
    )


#: Commands that may open a store that does not exist yet, creating it. Every other
#: command refuses: from an empty store a check answers "allowed" for everyone, and an
#: opt-out or erasure recorded there never reaches the real store.
CREATES_STORE = frozenset({"serve", "init"})


def _command_name() -> str:
    """The running (sub)command below ``prefcenter``, e.g. ``exceptions list``."""
    ctx = click.get_current_context(silent=True)
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


@click.group(cls=PrefcenterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database",
    metavar="URL",
    help="Store URL (sqlite:///path.db or postgresql://...); default: PREFCENTER_DATABASE.",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="TOML settings file; default: PREFCENTER_CONFIG.",
)
@click.version_option(package_name="prefcenter", message="prefcenter %(version)s")
@click.pass_context
def main(ctx: click.Context, database: str | None, config_file: str | None) -> None:
    """Operate the suppression store: check, suppress, filter lists, report.

    \b
    Examples:
      prefcenter check alice@example.com
      prefcenter --database postgresql://prefs@db/prefs report --since 7d
    """
    overrides = {"database": database} if database else {}
    cli = Cli(overrides=overrides, config_file=config_file)
    ctx.obj = cli
    ctx.call_on_close(cli.close)


def topic_option(help: str = "Topic (list) name; omitted: all marketing.") -> Callable[[F], F]:
    """``--topic T``."""
    return click.option("--topic", metavar="T", default=None, help=help)


def channel_option(name: str = "--channel") -> Callable[[F], F]:
    """``--channel email|sms|voice``."""
    return click.option(
        name,
        type=click.Choice([c.value for c in Channel]),
        default=Channel.EMAIL.value,
        show_default=True,
        help="Channel the address belongs to.",
    )


kind_option = click.option(
    "--kind",
    type=click.Choice([k.value for k in Kind]),
    default=Kind.MARKETING.value,
    show_default=True,
    help="Marketing obeys every preference; transactional only hard stops.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


class When(click.ParamType):  # type: ignore[type-arg]
    """A moment: ``2024-05-01``, ``2024-05-01T10:00:00+02:00`` (naive is UTC), or ``7d`` ago."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        from prefcenter.config import parse_duration

        try:
            return now() - parse_duration("since", text)
        except PrefcenterError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is not a date; write 2024-05-01, 2024-05-01T10:00:00Z or 7d.",
                param,
                ctx,
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_data(value: Any) -> Any:
    """Turn results (dataclasses, enums, datetimes) into JSON-ready data."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in fields(value) if f.name != "raw"}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(to_data(data), indent=2, ensure_ascii=False))
