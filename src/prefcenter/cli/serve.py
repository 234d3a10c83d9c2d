"""``prefcenter serve``: the HTTP and SMTP sidecars in one process, the console beside it.

The operator console runs in a child process of its own (``sidecar/console/process.py``)
whenever this process also serves HTTP or SMTP: its pages would otherwise take the
interpreter lock from one-click answers. Alone (``--no-http --no-smtp``) it runs here.
"""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING, Any

import click

from prefcenter.cli._app import Cli, main, pass_cli

if TYPE_CHECKING:
    from prefcenter.center import PreferenceCenter
    from prefcenter.config import Settings

log = logging.getLogger("prefcenter.serve")

#: First purge this long after the start (a crash loop must not purge in a loop), then daily.
PURGE_FIRST_S = 60.0
PURGE_EVERY_S = 24 * 3600.0
#: After a failed purge (the store was down), the next try.
PURGE_RETRY_S = 3600.0


async def purge_daily(
    center: PreferenceCenter,
    *,
    first: float = PURGE_FIRST_S,
    every: float = PURGE_EVERY_S,
    retry: float = PURGE_RETRY_S,
) -> None:
    """Run :meth:`PreferenceCenter.purge` once a day until cancelled; failures are logged."""
    import asyncio
    import threading

    delay = first
    stop = threading.Event()  # a shutdown ends a running purge after its current chunk
    while True:
        await asyncio.sleep(delay)
        try:
            done = await asyncio.to_thread(center.purge, stop=stop)
        except asyncio.CancelledError:
            stop.set()
            raise
        except Exception as error:  # the store may be down: try again sooner
            log.warning("purge failed (%s); trying again in %d s", type(error).__name__, retry)
            delay = retry
            continue
        delay = every
        log.info(
            "purged the mail of %d closed exception(s) and %d contact record(s)",
            done.exceptions,
            done.contacts,
        )


async def run_sidecars(
    center: PreferenceCenter,
    settings: Settings,
    *,
    http: bool,
    smtp: bool,
    console: bool = True,
    child_env: dict[str, str] | None = None,
) -> None:
    """Start the sidecars, wait for SIGTERM or SIGINT, then stop them gracefully.

    ``stop()`` lets in-flight requests and SMTP transactions finish; the caller closes
    the store afterwards. Beside HTTP or SMTP the console is a child process, and so is
    the webhook worker, each started with ``child_env`` (this environment plus the
    ``PREFCENTER_*`` of the options: nothing secret on a child's command line).
    """
    # Imported here so that `import prefcenter.cli` never loads the servers (nor asyncio:
    # every command would pay for it).
    import asyncio

    from prefcenter.sidecar.metrics import Metrics

    metrics = Metrics()  # one set of counters: /metrics shows the SMTP side's too
    sidecars: list[Any] = []
    if http:
        from prefcenter.sidecar.http.app import create_app
        from prefcenter.sidecar.http.server import HttpSidecar

        sidecars.append(
            HttpSidecar(center, settings, app=create_app(center, settings, metrics=metrics))
        )
    if smtp:
        from prefcenter.sidecar.smtp.server import SmtpSidecar

        sidecars.append(SmtpSidecar(center, settings, metrics=metrics))
    if console and settings.console and (http or smtp):  # its own listener and process
        from prefcenter.sidecar.console.process import ConsoleProcess

        sidecars.append(ConsoleProcess(settings, env=child_env))
    elif console and settings.console:  # the console alone: this process is its own
        from prefcenter.sidecar.console import ConsoleSidecar

        sidecars.append(ConsoleSidecar(center, settings))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    # SIGHUP rereads the STARTTLS certificate (a renewal needs no restart).
    reloads = [s.reload_tls for s in sidecars if hasattr(s, "reload_tls")]
    loop.add_signal_handler(signal.SIGHUP, lambda: [reload() for reload in reloads])
    started: list[Any] = []
    purging = asyncio.create_task(purge_daily(center))
    worker: Any = None
    if settings.events_webhook_url:
        from prefcenter.webhooks.process import WorkerProcess

        # Registered before anything listens: every change from the first request on
        # is queued, whenever the worker process gets going.
        urls = list(settings.events_webhook_url)
        center.store.run(lambda session: session.sync_endpoints(urls))
        # Its own process: delivering costs more Python than answering a one-click, and
        # would otherwise take the sidecar's interpreter lock from it.
        worker = WorkerProcess(env=child_env)
        worker.start()
    try:
        for sidecar in sidecars:
            try:
                await sidecar.start()
            except OSError as error:
                raise CannotListen(sidecar, error) from None
            started.append(sidecar)
        click.echo(
            f"prefcenter serving {', '.join(_where(s) for s in started)}; SIGTERM or Ctrl-C stops",
            err=True,
        )
        await stopping.wait()
        click.echo("prefcenter stopping: finishing in-flight requests", err=True)
    finally:
        purging.cancel()
        await asyncio.gather(purging, return_exceptions=True)
        for sidecar in reversed(started):
            await sidecar.stop()
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)


def _kind(sidecar: Any) -> str:
    if getattr(sidecar, "kind", "") == "console":
        return "console"
    return "HTTP" if hasattr(sidecar, "url") else "SMTP"


def _where(sidecar: Any) -> str:
    if _kind(sidecar) == "console":
        return f"the operator console on {sidecar.url}"
    if hasattr(sidecar, "url"):
        return f"HTTP on {sidecar.url}"
    return f"SMTP on {sidecar.host}:{sidecar.port}"


class CannotListen(click.ClickException):
    """A sidecar could not bind its address (in use, not local, no permission)."""

    exit_code = 2

    def __init__(self, sidecar: Any, error: OSError) -> None:
        kind = _kind(sidecar)
        where = f"{sidecar.host}:{getattr(sidecar, '_requested_port', sidecar.port)}"
        super().__init__(
            f"The {kind} sidecar cannot listen on {where} ({error.strerror or error}); "
            f"stop what uses it, or pass --{kind.lower()} HOST:PORT (or set "
            f"PREFCENTER_{kind.upper()}=HOST:PORT, as `make run` needs)."
        )


@main.command()
@click.option("--http", "http_address", metavar="HOST:PORT", default=None,
              help="Where the HTTP sidecar listens; default: PREFCENTER_HTTP.")  # fmt: skip
@click.option("--smtp", "smtp_address", metavar="HOST:PORT", default=None,
              help="Where the SMTP sidecar listens; default: PREFCENTER_SMTP.")  # fmt: skip
@click.option("--console", "console_address", metavar="HOST:PORT", default=None,
              help="Where the operator console listens; default: PREFCENTER_CONSOLE.")  # fmt: skip
@click.option("--no-http", is_flag=True, help="Run only the SMTP sidecar.")
@click.option("--no-console", is_flag=True, help="Do not run the operator console.")
@click.option("--no-smtp", is_flag=True, help="Run only the HTTP sidecar.")
@click.option("--listen-fd", type=int, default=None, hidden=True,
              help="Serve the console on this inherited socket (serve's own child).")  # fmt: skip
@click.option("--parent", type=int, default=None, hidden=True,
              help="Exit when this process (the serve that started us) is gone.")  # fmt: skip
@pass_cli
def serve(
    cli: Cli,
    http_address: str | None,
    smtp_address: str | None,
    console_address: str | None,
    no_http: bool,
    no_smtp: bool,
    no_console: bool,
    listen_fd: int | None,
    parent: int | None,
) -> None:
    """Run the HTTP and SMTP sidecars, and the operator console, until SIGTERM or SIGINT.

    The console runs in a child process of its own, restarted if it dies.

    \b
    Example:
      prefcenter serve --http 0.0.0.0:8080 --smtp 0.0.0.0:25
    """
    cli.overrides.update({"http": http_address} if http_address else {})
    cli.overrides.update({"smtp": smtp_address} if smtp_address else {})
    cli.overrides.update({"console": console_address} if console_address else {})
    settings = cli.settings()
    if no_http and no_smtp and (no_console or not settings.console):
        # Without the other two, the console alone may run (in a process of its own).
        raise click.UsageError("--no-http and --no-smtp together leave nothing to serve.")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    import asyncio

    if listen_fd is not None and parent is not None:  # the console child of a serve
        from prefcenter.sidecar.console.process import serve_handed_socket

        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve_handed_socket(cli.center(), settings, listen_fd, parent))
        return
    from prefcenter.config import child_environment

    # The children (console, webhook worker) load the settings this process did, from
    # their environment: nothing secret in argv.
    child_env = child_environment(cli.overrides, cli.config_file)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(
            run_sidecars(
                cli.center(),
                settings,
                http=not no_http,
                smtp=not no_smtp,
                console=not no_console,
                child_env=child_env,
            )
        )


def _loop_factory() -> Any:
    """uvloop when installed (the sidecar extra brings it): about 2x the requests per core."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
