"""Run every benchmark: ``python -m bench [--quick] [NAME ...]`` (``make bench``).

Each ``bench/bench_<name>.py`` module has a ``main(argv)`` that prints its figures; they
run one after another, in name order, each in this process. ``--quick`` is passed on to
the modules whose command line accepts it (the rest run with their defaults). Naming
modules (``store``, ``filter``) runs only those. ``--backend postgresql`` runs the
benchmarks that use a store (store, filter, http, smtp) on a PostgreSQL that pgserver
starts (and stops) for each, skipping the others. ``--scale 10m`` runs only
``bench_scale`` (1M and 10M suppressions; otherwise it skips itself). The exit status
is 1 when a module raised or returned a non-zero exit status.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path


def modules(selected: list[str]) -> list[str]:
    """The benchmark module names, ``bench_<name>``, in name order."""
    found = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    if selected:
        wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in selected}
        unknown = wanted - set(found)
        if unknown:
            raise SystemExit(f"No benchmark named {sorted(unknown)}; choose from {found}.")
        found = [name for name in found if name in wanted]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs where supported")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the store the store, filter, http and smtp benchmarks run on (PostgreSQL: "
        "started by pgserver for each)",
    )
    parser.add_argument(
        "--scale",
        default=None,
        help="run only the scale benchmark up to this many suppressions (1m or 10m: minutes)",
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    if args.scale is not None:
        from bench import bench_scale

        return bench_scale.main(["--scale", args.scale, "--backend", args.backend])
    failed = []
    for name in modules(args.names):
        module = importlib.import_module(f"bench.{name}")
        source = inspect.getsource(module)
        module_argv = ["--quick"] if args.quick and "--quick" in source else []
        if args.backend != "sqlite":
            if "add_option(parser)" not in source:
                print(f"== {name}: no store, skipped on --backend {args.backend}\n")
                continue
            module_argv += ["--backend", args.backend]
        print(f"== {name} {' '.join(module_argv)}".rstrip(), flush=True)
        started = time.perf_counter()
        try:
            status = module.main(module_argv)
        except SystemExit as stop:
            status = stop.code
        except Exception:
            traceback.print_exc()
            status = 1
        if isinstance(status, int) and status != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - started:.1f} s\n", flush=True)
    if failed:
        print(f"benchmarks that failed or missed a target: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
