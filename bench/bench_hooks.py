"""Provider webhooks against a hello-world route, served the same way, in the same run.

The server (the sidecar's own ``HttpSidecar`` config: uvicorn + httptools) runs in this
process; the load comes from a separate process replaying prepared raw HTTP/1.1
requests over keep-alive connections, so the client's cost does not land on the
server's core. Every request is distinct and signed with real keys, so every 2xx is a
real write committed by group commit (SQLite, WAL, ``synchronous=FULL``):

1. hello-world: a bare Starlette route answering ``POST /hello``; and one-click
   (``POST /u/{token}``, a new address each), the hot path with the same group commit,
   for reference: the hooks cannot beat the commits they wait for.
2. SendGrid: signed batches of 100 events (unsubscribes and hard bounces) -> events/s.
3. Postmark: one HardBounce record per request, basic credentials.
4. Twilio: one signed inbound ``STOP`` per request, a new number each.

Afterwards the store is counted: every event answered 2xx must be a stored suppression.
Targets: SendGrid >= 20,000 events/s; Postmark and Twilio >= 50 % of hello-world.

Every hook answers only after its commit (an fsync), so with a fixed number of clients
each waiting for its answer the rate is bound by commit time times batch size; the
single-event receivers get as many connections as ``bench_http`` gives one-click (64),
SendGrid a quarter of them (a provider sends few batches at once).

Each run is paired with a hello-world run just before it, and each target is judged on
the median of those pairs' ratios (this machine's speed wanders within a minute).

Each run also prints the server CPU per request by thread (Linux): the event loop, the
group commit thread, and the rest.

Run: ``python -m bench.bench_hooks [--seconds 2] [--rounds 3] [--connections 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BATCH = 100
TWILIO_TOKEN = "bench-twilio-token-0123456789abcd"
POSTMARK = ("bench", "bench-postmark-password")
PUBLIC = "https://prefs.bench.example"

# -- load generator (runs in a child process) -----------------------------------------


async def _connection(
    host: str, port: int, requests: list[bytes], next_index: list[int], deadline: float,
    latencies: list[float], statuses: dict[int, int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    try:
        repeat = len(requests) == 1
        while time.perf_counter() < deadline and (repeat or next_index[0] < len(requests)):
            request = requests[0] if repeat else requests[next_index[0]]
            next_index[0] += 1
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
    host: str, port: int, requests: list[bytes], seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(host, port, requests, next_index, deadline, latencies, statuses)
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
        "exhausted": len(requests) > 1 and next_index[0] >= len(requests),
    }


def load_main(argv: list[str]) -> None:
    """Child process: ``load HOST PORT FILE SECONDS CONNECTIONS`` -> JSON on stdout."""
    host, port, request_file, seconds, connections = argv
    requests = pickle.loads(Path(request_file).read_bytes())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(_load(host, int(port), requests, float(seconds), int(connections)))))


# -- requests -------------------------------------------------------------------------


def _raw(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n").encode() + body


def one_click_requests(center: Any, start: int, count: int) -> list[bytes]:
    """``count`` one-click POSTs, every address new: the hot path the hooks are held to."""
    body = b"List-Unsubscribe=One-Click"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        _raw(
            "/u/" + center.unsubscribe_url(f"oc{n}@bench.example.org").rsplit("/u/", 1)[1],
            body,
            headers,
        )
        for n in range(start, start + count)
    ]


def hello_requests() -> list[bytes]:
    """One request, replayed."""
    return [_raw("/hello", b"x" * 200, {"Content-Type": "application/json"})]


def sendgrid_requests(key: Any, start: int, count: int) -> list[bytes]:
    """``count`` signed batches of :data:`BATCH` events, every address new."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    made = []
    for batch in range(start, start + count):
        events = [
            {"email": f"sg{batch}-{n}@bench.example.org", "timestamp": 1764499200,
             "event": "bounce" if n % 4 == 0 else "unsubscribe", "type": "bounce",
             "status": "5.1.1", "sg_event_id": f"sg-{batch}-{n}",
             "sg_message_id": f"bench.{batch}.{n}.filter0001"}
            for n in range(BATCH)
        ]  # fmt: skip
        body = json.dumps(events).encode()
        stamp = str(int(time.time()))  # within SENDGRID_TIMESTAMP_TOLERANCE
        signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }
        made.append(_raw("/hooks/sendgrid", body, headers))
    return made


def postmark_requests(start: int, count: int) -> list[bytes]:
    """``count`` HardBounce records, every address new."""
    credentials = base64.b64encode(":".join(POSTMARK).encode()).decode()
    made = []
    for n in range(start, start + count):
        record = {
            "RecordType": "Bounce", "MessageStream": "outbound", "ID": 10_000_000 + n,
            "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce",
            "MessageID": f"883953f4-6105-42a2-a16a-{n:012d}", "ServerID": 23,
            "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 The email account does not exist.",
            "Email": f"pm{n}@bench.example.org", "From": "news@sender.example",
            "BouncedAt": "2026-11-30T12:00:00Z", "Inactive": True, "CanActivate": True,
        }  # fmt: skip
        headers = {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}
        made.append(_raw("/hooks/postmark", json.dumps(record).encode(), headers))
    return made


def twilio_requests(start: int, count: int) -> list[bytes]:
    """``count`` signed inbound STOP messages, every number new (+1 415 2xx xxxx)."""
    url = PUBLIC + "/hooks/twilio"
    made = []
    for n in range(start, start + count):
        params = {
            "MessageSid": f"SM{n:032x}", "SmsSid": f"SM{n:032x}", "AccountSid": "AC" + "b" * 32,
            "From": f"+1415{2000000 + n:07d}", "To": "+14155550100", "Body": "STOP",
            "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }  # fmt: skip
        data = url + "".join(name + params[name] for name in sorted(params))
        signature = base64.b64encode(
            hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
        ).decode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        made.append(_raw("/hooks/twilio", urlencode(params).encode(), headers))
    return made


# -- server side ------------------------------------------------------------------------


def _run_load(
    port: int, requests: list[bytes], seconds: float, connections: int, tmp: Path
) -> dict[str, Any]:
    request_file = tmp / f"requests-{time.monotonic_ns()}.pickle"
    request_file.write_bytes(pickle.dumps(requests))
    command = [sys.executable, "-m", "bench.bench_hooks", "load", "127.0.0.1", str(port),
               str(request_file), str(seconds), str(connections)]  # fmt: skip
    before = _thread_cpu()
    cpu = time.process_time()  # this (server) process, all threads: robust on a shared host
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 90)
    cpu = time.process_time() - cpu
    after = _thread_cpu()
    result: dict[str, Any] = json.loads(out.stdout)
    requests_done = max(result["requests"], 1)
    result["server_cpu_us"] = 1e6 * cpu / requests_done
    result["thread_cpu_us"] = _by_role(before, after, requests_done)
    request_file.unlink()
    return result


def _thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by native id; empty
    where /proc is not there. Read at the kernel's tick (10 ms): fine over a run."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: dict[int, float] = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return found
    for task in tasks:
        try:
            stat = Path(f"/proc/self/task/{task}/stat").read_text()
        except OSError:
            continue  # the thread ended
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(task)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _by_role(before: dict[int, float], after: dict[int, float], requests: int) -> dict[str, float]:
    """Per request, in µs: the event loop's thread, the group commit's, and the rest
    (the load's waiting thread, the hello-world server's, anyone else)."""
    loop = threading.main_thread().native_id
    commit = {t.native_id for t in threading.enumerate() if t.name == "prefcenter-commit"}
    roles = {"loop": 0.0, "commit": 0.0, "other": 0.0}
    for task, seconds in after.items():
        role = "loop" if task == loop else "commit" if task in commit else "other"
        roles[role] += 1e6 * (seconds - before.get(task, 0.0)) / requests
    return roles


async def _serve_and_measure(
    seconds: float, connections: int, rounds: int, tmp: Path, only: list[str] | None = None
) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from prefcenter.center import PreferenceCenter
    from prefcenter.config import load_settings
    from prefcenter.sidecar.http.server import HttpSidecar

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = load_settings(
        {
            "database": f"sqlite:///{tmp / 'bench.db'}",
            "secret": "bench-secret-0123456789abcdef0123",
            "pepper": "bench-pepper-0123456789abcdef0123",
            "var_dir": str(tmp / "var"),
            "base_url": PUBLIC,
            "http": "127.0.0.1:0",
            "sendgrid_webhook_public_key": base64.b64encode(public).decode(),
            "postmark_webhook_user": POSTMARK[0],
            "postmark_webhook_password": POSTMARK[1],
            "twilio_auth_token": TWILIO_TOKEN,
        },
        environ={},
        generate_dev_keys=False,
    )
    center = PreferenceCenter(settings)
    singles = int(seconds * 15000) + 1000  # more than a run can use
    batches = int(seconds * 600) + 50
    makers: dict[str, Callable[[int], list[bytes]]] = {
        "one-click": lambda r: one_click_requests(center, r * singles, singles),
        "sendgrid": lambda r: sendgrid_requests(key, r * batches, batches),
        "postmark": lambda r: postmark_requests(r * singles, singles),
        "twilio": lambda r: twilio_requests(r * singles, singles),
    }
    if only:
        makers = {name: make for name, make in makers.items() if name in only}

    async def hello(request: Request) -> PlainTextResponse:
        await request.body()
        return PlainTextResponse("hello")

    bare = Starlette(routes=[Route("/hello", hello, methods=["POST"])])
    hello_server = HttpSidecar(center, settings, port=0, app=bare)  # same uvicorn config
    sidecar = HttpSidecar(center, settings, port=0)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in makers}
    baselines: dict[str, list[dict[str, Any]]] = {name: [] for name in makers}
    await hello_server.start()
    await sidecar.start()
    try:
        for index in range(rounds):
            for name, make in makers.items():
                # Requests made before the pair of runs (new addresses every round), and
                # hello-world run just before each: a shared machine's drift hits both.
                requests = await asyncio.to_thread(make, index)
                baselines[name].append(
                    await asyncio.to_thread(
                        _run_load, hello_server.port, hello_requests(), seconds, connections, tmp
                    )
                )
                width = max(connections // 4, 1) if name == "sendgrid" else connections
                runs[name].append(
                    await asyncio.to_thread(_run_load, sidecar.port, requests, seconds, width, tmp)
                )
                del requests
        rendered = sidecar.app.state.sidecar.metrics.render()
    finally:
        await sidecar.stop()
        await hello_server.stop()
    stored = sum(1 for _ in center.export())
    center.close()
    commits = _metric(rendered, "prefcenter_group_commits_total")
    seconds = _metric(rendered, 'prefcenter_store_seconds_sum{operation="commit"}')
    return {"runs": runs, "baselines": baselines, "stored": stored, "commits": commits,
            "mean_commit_ms": 1000 * seconds / commits if commits else 0.0}  # fmt: skip


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def _median(values: list[float]) -> float:
    # Of an even number of rounds, the mean of the middle two (not the upper one).
    return float(statistics.median(values))


def main(argv: list[str] | None = None) -> int:
    """Run the measurements and print rates and ratios; exit 1 when a target is missed."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["load"]:
        load_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all five")
    parser.add_argument(
        "--connections", type=int, default=64, help="a quarter of them for SendGrid batches"
    )
    parser.add_argument("--quick", action="store_true", help="1 s runs, one round")
    parser.add_argument(
        "--only", nargs="+", choices=["one-click", "sendgrid", "postmark", "twilio"],
        help="measure these receivers only (targets are judged on all four)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 1.0, 1
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    with tempfile.TemporaryDirectory() as tmp:
        result = runner(
            _serve_and_measure(args.seconds, args.connections, args.rounds, Path(tmp), args.only)
        )
    runs, baselines = result["runs"], result["baselines"]
    for name, measured in runs.items():
        for run, base in zip(measured, baselines[name], strict=True):
            threads = run["thread_cpu_us"]
            print(f"{name:9s}: {run['per_second']:8.0f} req/s  p50 {run['p50_ms']:6.1f} ms  "
                  f"p99 {run['p99_ms']:6.1f} ms  statuses {run['statuses']}  "
                  f"(hello-world just before: {base['per_second']:.0f} req/s, "
                  f"{run['per_second'] / base['per_second']:.0%}); server CPU "
                  f"{run['server_cpu_us']:.0f} us/req "
                  f"against {base['server_cpu_us']:.0f} (loop {threads['loop']:.0f}, "
                  f"commit {threads['commit']:.0f}, other {threads['other']:.0f})")  # fmt: skip
    ratio = {
        name: _median(
            [run["per_second"] / base["per_second"]
             for run, base in zip(measured, baselines[name], strict=True)]
        )
        for name, measured in runs.items()
    }  # fmt: skip
    cpu = {
        name: _median([run["server_cpu_us"] for run in measured]) for name, measured in runs.items()
    }
    hello_rate = _median([b["per_second"] for runs_ in baselines.values() for b in runs_])
    hello_cpu = _median([b["server_cpu_us"] for runs_ in baselines.values() for b in runs_])
    ok = {name: sum(run["statuses"].get("200", 0) for run in runs[name]) for name in runs}
    answered = sum(count * (BATCH if name == "sendgrid" else 1) for name, count in ok.items())
    print(f"median   : hello-world {hello_rate:.0f} req/s, server CPU {hello_cpu:.0f} us/req")
    failed = result["stored"] != answered
    if "sendgrid" in runs:
        events = _median([run["per_second"] for run in runs["sendgrid"]]) * BATCH
        per_event = cpu["sendgrid"] / BATCH
        print(f"SendGrid : {events:.0f} events/s in batches of {BATCH} (target >= 20,000); "
              f"server CPU {per_event:.0f} us/event "
              f"({1e6 / per_event:.0f} events/s per core)")  # fmt: skip
        failed = failed or events < 20_000
    for name in ("postmark", "twilio", "one-click"):
        if name in runs:
            target = " (target >= 50 %)" if name != "one-click" else " (the same commits)"
            print(f"{name:9s}: {ratio[name]:.0%} of hello-world{target}, median of the "
                  f"per-round ratios; server CPU {cpu[name]:.0f} us/req, so a CPU-bound "
                  f"server would reach {hello_cpu / cpu[name]:.0%}")  # fmt: skip
            failed = failed or (name != "one-click" and ratio[name] < 0.5)
    commits, commit_ms = result["commits"], result["mean_commit_ms"]
    print(f"committed: {result['stored']} suppressions stored for {answered} events "
          f"answered 200; {commits:.0f} group commits, mean {commit_ms:.1f} ms each")  # fmt: skip
    if any(run["exhausted"] for measured in runs.values() for run in measured):
        print("note: ran out of prepared requests before the time was up", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
