"""``python -m bench [NAME ...] [--quick]``: run, print figures, write JSON and LATEST.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
import traceback

from bench.report import Result, write_latest, write_result

# name → (module, one-line description). Order is the order of the issue and of the table.
SCENARIOS: dict[str, tuple[str, str]] = {
    "ready_delay": ("bench.scenarios.ready_delay", "DALL-E 2 ready→persisted delay vs 10 s poll"),
    "bfl_ready_delay": ("bench.scenarios.bfl_ready_delay", "BFL (FLUX) ready→stored delay"),
    "overhead": ("bench.scenarios.overhead", "per-job overhead, zero-latency model"),
    "durable_cost": ("bench.scenarios.durable_cost", "Durable actions and history bytes per job"),
    "memory": ("bench.scenarios.memory", "host peak RSS growth persisting a 20 MB image"),
    "edits": ("bench.scenarios.edits", "edit a 20 MB input: host RSS growth, durable cost"),
    "quota": ("bench.scenarios.quota", "throughput against a 120 RPM quota"),
    "coldstart": ("bench.scenarios.coldstart", "import function_app vs the Functions SDKs alone"),
    "previews": (
        "bench.scenarios.previews",
        "streaming: partial frame emitted → offered by status",
    ),
}


def _print_result(result: Result) -> None:
    print(f"\n== {result.name}: {result.title}{' (quick)' if result.quick else ''}")
    for fig in result.figures:
        extra = []
        if fig.reference:
            extra.append(f"ref: {fig.reference}")
        if fig.goal:
            extra.append(
                f"goal: {fig.goal}{'' if fig.met is None else (' ✓' if fig.met else ' ✗')}"
            )
        tail = f"   ({'; '.join(extra)})" if extra else ""
        print(f"  {fig.label:<44} {fig.shown():>14}{tail}")
    for note in result.notes:
        print(f"  note: {note}")
    if result.duration_s is not None:
        print(f"  [{result.duration_s:.1f} s]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default all): {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--quick", action="store_true", help="fewer jobs, shorter latencies")
    parser.add_argument("--list", action="store_true", help="list benchmarks and exit")
    parser.add_argument("--echo", action="store_true", help="echo the devstack processes' output")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, desc) in SCENARIOS.items():
            print(f"{name:<14} {desc}")
        return 0
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    failed: list[str] = []
    for name in args.names or list(SCENARIOS):
        module = importlib.import_module(SCENARIOS[name][0])
        started = time.monotonic()
        try:
            result: Result = asyncio.run(module.run(quick=args.quick, echo=args.echo))
        except Exception:  # one broken scenario must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        result.duration_s = time.monotonic() - started
        path = write_result(result)
        _print_result(result)
        print(f"  -> {path.relative_to(path.parent.parent.parent)}")
    latest = write_latest(order=list(SCENARIOS))
    print(f"\nwrote {latest.name}")
    if failed:
        print(f"benchmarks that could not run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
