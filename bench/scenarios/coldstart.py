"""6. Cold start: the wall time of ``import function_app`` against the Functions SDKs alone.

On a consumption plan every cold start imports the app before its first call. Three commands
run in fresh processes with the repo's venv python, cwd = the repo root: ``python -c pass``,
``python -c "import azure.functions, azure.durable_functions"`` (what any Durable app pays) and
``python -c "import function_app"``. They are interleaved, one of each per round in a rotating
order, so drift and other load on the machine fall on all three alike; after one discarded run
each (bytecode caches written: ``PYTHONDONTWRITEBYTECODE`` is dropped for the children).

Import time = median wall time minus the bare interpreter's median; the figure is the ratio of
the app's to the SDKs'. Wall time rather than ``-X importtime``: it is what the worker pays, and
importtime's own bookkeeping (a timer and a stderr line per module) inflates the side that
imports more modules, which is the app. One ``-X importtime`` run is kept for diagnosis only:
which packages beyond the SDKs' the app loads, how long each took and who imported it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import Result
from bench.stats import percentile, summary

ROOT = Path(__file__).resolve().parents[2]
GOAL = 1.30
BARE = "pass"
SDKS = "import azure.functions, azure.durable_functions"
APP = "import function_app"
COMMANDS = {"bare": BARE, "sdks": SDKS, "app": APP}
APP_PACKAGES = ("shared", "function_app")


def venv_python(root: Path = ROOT) -> str:
    candidate = root / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployed worker runs from warm bytecode caches
    return env


def _run(python: str, code: str, root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [python, *flags, "-c", code],
        cwd=root,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`python -c {code!r}` failed:\n{proc.stderr[-2000:]}")
    return proc


def wall_times(rounds: int, root: Path = ROOT) -> dict[str, list[float]]:
    """Seconds per run of each command, `rounds` runs each, interleaved in a rotating order."""
    python = venv_python(root)
    names = list(COMMANDS)
    for name in names:  # warm-up: bytecode caches, the page cache
        _run(python, COMMANDS[name], root)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            _run(python, COMMANDS[name], root)
            samples[name].append(time.perf_counter() - started)
    return samples


@dataclass(frozen=True)
class Importer:
    """A package the app itself imports beyond the SDKs': the time its imports took (cumulative,
    its own dependencies included) and the app module that paid the most of it."""

    package: str
    cumulative_ms: float
    imported_by: str


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "azure" else parts[0]


def _importtime_tree(python: str, code: str, root: Path) -> list[tuple[int, int, str, str | None]]:
    """(depth, cumulative µs, module, parent module) per line of ``-X importtime``."""
    rows: list[tuple[int, int, str]] = []
    for line in _run(python, code, root, "-X", "importtime").stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _self, us, name = line.removeprefix("import time:").split("|")
        rows.append(((len(name) - len(name.lstrip())) // 2, int(us), name.strip()))
    # Children are printed before their parent: read backwards, a parent comes first.
    tree: list[tuple[int, int, str, str | None]] = []
    ancestors: list[tuple[int, str]] = []
    for depth, cumulative, name in reversed(rows):
        while ancestors and ancestors[-1][0] >= depth:
            ancestors.pop()
        tree.append((depth, cumulative, name, ancestors[-1][1] if ancestors else None))
        ancestors.append((depth, name))
    return tree


def importers_beyond_sdks(root: Path = ROOT) -> tuple[list[Importer], set[str]]:
    """The non-stdlib packages app modules (shared.*, function_app) import directly that the SDKs
    alone do not load, slowest first; and every module `import function_app` loads."""
    python = venv_python(root)
    sdk_modules = {name for _, _, name, _ in _importtime_tree(python, SDKS, root)}
    tree = _importtime_tree(python, APP, root)
    totals: dict[str, int] = {}
    top: dict[str, tuple[int, str]] = {}
    for _, cumulative, name, parent in tree:
        package = _package(name)
        if name in sdk_modules or package in APP_PACKAGES or package in sys.stdlib_module_names:
            continue
        if parent is None or _package(parent) not in APP_PACKAGES:
            continue  # a dependency of another package: inside that one's time
        totals[package] = totals.get(package, 0) + cumulative
        if cumulative > top.get(package, (-1, ""))[0]:
            top[package] = (cumulative, parent)
    found = [Importer(p, us / 1000, top[p][1]) for p, us in totals.items()]
    return sorted(found, key=lambda imp: -imp.cumulative_ms), {name for _, _, name, _ in tree}


async def run(*, quick: bool = False, echo: bool = False) -> Result:
    rounds = 7 if quick else 21
    result = Result("coldstart", "6. Cold start: import time of the app vs the SDKs", quick)
    samples = await asyncio.to_thread(wall_times, rounds)
    importers, app_modules = await asyncio.to_thread(importers_beyond_sdks)
    median = {name: percentile(runs, 50) or 0.0 for name, runs in samples.items()}
    app_ms = (median["app"] - median["bare"]) * 1000
    sdks_ms = (median["sdks"] - median["bare"]) * 1000
    ratio = app_ms / sdks_ms if sdks_ms > 0 else None
    result.add(
        "import function_app ÷ SDKs alone (median)",
        ratio,
        "×",
        reference=f"SDKs alone: {sdks_ms:.0f} ms",
        goal=f"≤ {GOAL:.2f}×",
        met=None if ratio is None else ratio <= GOAL,
        headline=True,
    )
    result.add("import function_app − bare python (median)", app_ms, "ms")
    result.add("import SDKs − bare python (median)", sdks_ms, "ms")
    result.add("bare python -c pass (median)", median["bare"] * 1000, "ms")
    result.notes.append(
        f"wall time of {rounds} fresh processes per command, interleaved; SDKs = `{SDKS}`; "
        "import time = median − the bare interpreter's median"
    )
    result.details = {
        "python": venv_python(),
        "commands": COMMANDS,
        "rounds": rounds,
        "wall_s": samples,
        "summary_s": {name: summary(runs) for name, runs in samples.items()},
        "importers_beyond_sdks": [vars(imp) for imp in importers],
    }
    if importers:
        top = ", ".join(
            f"{imp.package} {imp.cumulative_ms:.0f} ms ({imp.imported_by})" for imp in importers[:6]
        )
        result.notes.append(
            f"packages the app imports beyond the SDKs' (one -X importtime run; cumulative, "
            f"importing module): {top}"
        )
    if {"httpx._main", "rich"} <= app_modules:
        result.notes.append(
            "httpx imports its CLI (click, rich, pygments) when they are installed, as in the "
            "dev venv; an install of requirements.txt alone pays less for httpx"
        )
    return result
