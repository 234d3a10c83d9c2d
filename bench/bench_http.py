"""One-click POSTs per second against a hello-world route, served the same way, same run.

The server (uvicorn + httptools on uvloop, the sidecar's own ``HttpSidecar`` config) runs
in this process; the load comes from a separate process speaking raw HTTP/1.1 over 64
keep-alive connections, so the client's cost does not land on the server's core.

1. hello-world: a bare Starlette route answering ``POST /hello`` with a short text.
2. one-click: ``POST /u/{token}`` with ``List-Unsubscribe=One-Click``, one distinct
   address per request, so every answer is a real write, answered only after its group
   commit (SQLite, WAL, ``synchronous=FULL``; or, with ``--backend postgresql``, a
   PostgreSQL started by pgserver with its default ``fsync`` and ``synchronous_commit``).

Afterwards the store is counted: every 200 must be a stored suppression.
Targets: one-click throughput >= 50% of hello-world (PostgreSQL: >= 35%), one-click
p99 <= 50 ms.

Run: ``python -m bench.bench_http [--seconds 3] [--rounds 3] [--connections 64]``;
``--webhooks off,queue,deliver`` measures one-click with the change webhooks off, queued
and delivering, one store and sidecar each, in the same alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.backend import add_option, databases, sidecar_settings
from bench.webhooks_on import webhook_modes, webhooks_on

BODY = b"List-Unsubscribe=One-Click"


# -- load generator (runs in a child process) -----------------------------------------


async def _connection(
    host: str, port: int, paths: list[str], next_index: list[int], deadline: float,
    latencies: list[float], statuses: dict[int, int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    try:
        repeat = len(paths) == 1  # one path: the same request over and over
        while time.perf_counter() < deadline and (repeat or next_index[0] < len(paths)):
            path = paths[0] if repeat else paths[next_index[0]]
            next_index[0] += 1
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(BODY)}\r\n\r\n"
            ).encode() + BODY
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(
    host: str, port: int, paths: list[str], seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(host, port, paths, next_index, deadline, latencies, statuses)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "statuses": statuses,
        "exhausted": len(paths) > 1 and next_index[0] >= len(paths),
    }


def load_main(argv: list[str]) -> None:
    """Child process: ``load HOST PORT PATHFILE SECONDS CONNECTIONS`` -> JSON on stdout."""
    host, port, path_file, seconds, connections = argv
    paths = Path(path_file).read_text().split()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_load(host, int(port), paths, float(seconds), int(connections)))
    print(json.dumps(result))


# -- server side ------------------------------------------------------------------------


def _run_load(
    port: int, paths: list[str], seconds: float, connections: int, tmp: Path
) -> dict[str, Any]:
    path_file = tmp / f"paths-{time.monotonic_ns()}.txt"
    path_file.write_text("\n".join(paths))
    command = [sys.executable, "-m", "bench.bench_http", "load", "127.0.0.1", str(port),
               str(path_file), str(seconds), str(connections)]  # fmt: skip
    cpu = time.process_time()  # this (server) process, all threads: robust on a shared host
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    cpu = time.process_time() - cpu
    result: dict[str, Any] = json.loads(out.stdout)
    result["server_cpu_us"] = 1e6 * cpu / max(result["requests"], 1)
    return result


async def _serve_and_measure(
    seconds: float, connections: int, rounds: int, tmp: Path, urls: list[str], modes: list[str]
) -> dict[str, Any]:
    """Hello-world and one-click in alternating rounds; one one-click sidecar (and store)
    per webhooks mode, each measured once per round, so the modes see the same load."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from prefcenter.center import PreferenceCenter
    from prefcenter.sidecar.http.server import HttpSidecar

    per_round = int(seconds * 25000) + 1000
    centers, stops, tokens, sidecars = [], [], [], []
    for url, mode in zip(urls, modes, strict=True):
        settings = sidecar_settings(
            url, tmp / "var", base_url="http://127.0.0.1", http="127.0.0.1:0"
        )
        center = PreferenceCenter(settings)
        centers.append(center)
        stops.append(webhooks_on(center, mode))
        started = time.perf_counter()
        tokens.append(
            [
                "/u/" + center.unsubscribe_url(f"reader{n}@bench.example.org").rsplit("/u/", 1)[1]
                for n in range(per_round * rounds)
            ]
        )
        print(f"{mode}: made {per_round * rounds} tokens in {time.perf_counter() - started:.1f}s",
              file=sys.stderr)  # fmt: skip
        sidecars.append(HttpSidecar(center, settings, port=0))

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    bare = Starlette(routes=[Route("/hello", hello, methods=["POST"])])
    hello_server = HttpSidecar(centers[0], centers[0].settings, port=0, app=bare)
    hello_runs: list[dict[str, Any]] = []
    click_runs: list[list[dict[str, Any]]] = [[] for _ in modes]
    await hello_server.start()
    for sidecar in sidecars:
        await sidecar.start()
    try:
        # Alternate, so drift in a shared machine's load hits every server alike.
        for index in range(rounds):
            hello_runs.append(
                await asyncio.to_thread(
                    _run_load, hello_server.port, ["/hello"], seconds, connections, tmp
                )
            )
            for number, sidecar in enumerate(sidecars):
                batch = tokens[number][index * per_round : (index + 1) * per_round]
                click_runs[number].append(
                    await asyncio.to_thread(
                        _run_load, sidecar.port, batch, seconds, connections, tmp
                    )
                )
        rendered = [sidecar.app.state.sidecar.metrics.render() for sidecar in sidecars]
    finally:
        for sidecar in sidecars:
            await sidecar.stop()
        await hello_server.stop()
    results = []
    for number, mode in enumerate(modes):
        hooks = await asyncio.to_thread(stops[number])
        stored = sum(1 for _ in centers[number].export())
        centers[number].close()
        text = rendered[number]
        batches = _metric(text, "prefcenter_group_commits_total")
        batched = _metric(text, "prefcenter_group_commit_requests_total")
        commit_seconds = _metric(text, 'prefcenter_store_seconds_sum{operation="commit"}')
        results.append(
            {
                "mode": mode,
                "one_click": click_runs[number],
                "stored": stored,
                "webhooks": hooks,
                "commits": batches,
                "mean_batch": batched / batches if batches else 0.0,
                "mean_commit_ms": 1000 * commit_seconds / batches if batches else 0.0,
            }
        )
    return {"hello": hello_runs, "modes": results}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    # Of an even number of rounds, the mean of the middle two (not the upper one).
    return float(statistics.median(run[key] for run in runs))


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print the ratio; exit 1 when a target is missed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["load"]:
        load_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one run")
    parser.add_argument("--rounds", type=int, default=3, help="hello/one-click pairs")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="sys.setswitchinterval for the server"
    )
    add_option(parser)
    parser.add_argument("--webhooks", default="off", type=webhook_modes,
                        help="comma-separated, each measured in the same rounds: off; queue "
                        "(every change also writes its outbox row); deliver (and the worker "
                        "POSTs them to a local receiver), e.g. off,queue,deliver")  # fmt: skip
    args = parser.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    names = [f"http_{mode}" for mode in args.webhooks]
    with tempfile.TemporaryDirectory() as tmp, databases(args.backend, Path(tmp), names) as urls:
        result = runner(
            _serve_and_measure(
                args.seconds, args.connections, args.rounds, Path(tmp), urls, args.webhooks
            )
        )
    for run in result["hello"]:
        _print_run("hello-world", run)
    for mode in result["modes"]:
        for run in mode["one_click"]:
            _print_run(
                f"one-click {mode['mode']}" if len(result["modes"]) > 1 else "one-click", run
            )
    hello_rate = _median(result["hello"], "per_second")
    hello_p99 = _median(result["hello"], "p99_ms")
    print(f"median      : hello-world {hello_rate:.0f} req/s (p99 {hello_p99:.1f} ms)")
    target = 0.5 if args.backend == "sqlite" else 0.35
    failed = False
    for mode in result["modes"]:
        runs = mode["one_click"]
        click_rate = _median(runs, "per_second")
        click_p99 = _median(runs, "p99_ms")
        ratio = click_rate / hello_rate
        cpu_ratio = _median(result["hello"], "server_cpu_us") / _median(runs, "server_cpu_us")
        ok_200 = sum(run["statuses"].get("200", 0) for run in runs)
        label = f"webhooks {mode['mode']}: " if len(result["modes"]) > 1 else ""
        print(f"{label}one-click {click_rate:.0f} req/s (p99 {click_p99:.1f} ms)")
        print(f"ratio       : {ratio:.0%} of hello-world (target >= {target:.0%}), "
              f"one-click p99 {click_p99:.1f} ms (target <= 50 ms)")  # fmt: skip
        print(f"CPU ratio   : hello-world CPU per request / one-click CPU per request = "
              f"{cpu_ratio:.0%} (the throughput ratio a CPU-bound server would reach)")  # fmt: skip
        print(f"group commit: {mode['commits']:.0f} commits, "
              f"mean {mode['mean_batch']:.1f} requests and {mode['mean_commit_ms']:.1f} ms "
              "per commit; "
              f"{mode['stored']} suppressions stored for {ok_200} answers 200")  # fmt: skip
        if mode["mode"] != "off":
            print(f"webhooks    : {mode['mode']}, {mode['webhooks']}")
        if any(run["exhausted"] for run in runs):
            print("note: ran out of prepared tokens before the time was up", file=sys.stderr)
        failed = failed or ratio < target or click_p99 > 50 or mode["stored"] != ok_200
    return 1 if failed else 0


def _print_run(name: str, run: dict[str, Any]) -> None:
    print(f"{name:12s}: {run['per_second']:8.0f} req/s  p50 {run['p50_ms']:6.1f} ms  "
          f"p99 {run['p99_ms']:6.1f} ms  server CPU {run['server_cpu_us']:5.0f} us/req  "
          f"statuses {run['statuses']}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
