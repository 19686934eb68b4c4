"""What a benchmark run produces: JSON per scenario and one markdown table of the latest figures.

Results are data, not verdicts: a figure may carry its goal and whether this run met it, so the
table reads side by side with the references (the seed's 10 s poll, Durable's ``Retry-After: 10``,
the quota-bound minimum), but nothing here fails on time.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
LATEST_MD = BENCH_DIR / "LATEST.md"


@dataclass
class Figure:
    """One reported number, with the reference it is measured against and the issue's goal."""

    label: str
    value: float | int | str | None
    unit: str = ""
    reference: str | None = None
    goal: str | None = None
    met: bool | None = None
    headline: bool = False  # one of the few figures the README's short table shows

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        if isinstance(self.value, float) and self.unit == "×":
            text = f"{self.value:.2f}"
        elif isinstance(self.value, float):
            text = f"{self.value:.3g}" if abs(self.value) < 100 else f"{self.value:.0f}"
        else:
            text = str(self.value)
        return f"{text} {self.unit}".strip()


@dataclass
class Result:
    """Everything one scenario measured; ``details`` keeps the raw samples for later analysis."""

    name: str
    title: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    duration_s: float | None = None
    machine: dict[str, Any] = field(
        default_factory=lambda: {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "load_1min_at_start": round(os.getloadavg()[0], 2),
        }
    )

    def add(self, label: str, value: float | int | str | None, unit: str = "", **kw: Any) -> Figure:
        fig = Figure(label, value, unit, **kw)
        self.figures.append(fig)
        return fig

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        figures = [Figure(**f) for f in data.get("figures", [])]
        return cls(**{**data, "figures": figures})


def write_result(result: Result, results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{result.name}.json"
    path.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    return path


def load_results(results_dir: Path = RESULTS_DIR) -> list[Result]:
    if not results_dir.is_dir():
        return []
    out = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            out.append(Result.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, TypeError):
            continue  # a file from an older layout: skip it rather than fail the table
    return out


def _met(fig: Figure) -> str:
    return {True: "yes", False: "**no**", None: ""}[fig.met]


def render_markdown(results: list[Result], order: list[str] | None = None) -> str:
    """The README table: one row per figure, grouped by benchmark, with the command that made it."""
    rank = {name: i for i, name in enumerate(order or [])}
    results = sorted(results, key=lambda r: (rank.get(r.name, len(rank)), r.name))
    lines = [
        "# Latest benchmark figures",
        "",
        "Made by `make bench` (`.venv/bin/python -m bench [NAME] [--quick]`) on the devstack:",
        "Azurite + the Azure OpenAI emulator + the local Functions host, all on one machine.",
        "Figures, not verdicts: nothing here fails on time. Raw samples: `bench/results/*.json`.",
        "",
        "| Figure | Measured | Reference | Goal | Met |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for fig in r.figures:
            if fig.headline:
                lines.append(
                    f"| {fig.label} (`{r.name}`{', quick' if r.quick else ''}) | {fig.shown()} | "
                    f"{fig.reference or ''} | {fig.goal or ''} | {_met(fig)} |"
                )
    lines += [
        "",
        "## All figures",
        "",
        "| Benchmark | Figure | Measured | Reference | Goal | Met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        tag = f"{r.title}{' (quick)' if r.quick else ''}"
        for i, fig in enumerate(r.figures):
            first = f"{tag}<br>`python -m bench {r.name}`" if i == 0 else ""
            lines.append(
                f"| {first} | {fig.label} | {fig.shown()} | {fig.reference or ''} | "
                f"{fig.goal or ''} | {_met(fig)} |"
            )
    lines.append("")
    machines = {(r.machine.get("cpus"), r.machine.get("python")) for r in results}
    for cpus, py in sorted(machines, key=str):
        lines.append(f"Machine: {cpus} CPUs, Python {py}.")
    loads = [f"{r.name} {r.machine.get('load_1min_at_start', '?')}" for r in results]
    lines.append(f"Load average (1 min) when each started: {', '.join(loads)}.")
    dates = sorted(r.started_at for r in results)
    if dates:
        lines.append(f"Runs from {dates[0]} to {dates[-1]}.")
    notes = [(r.name, n) for r in results for n in r.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- `{name}`: {note}" for name, note in notes]
    return "\n".join(lines) + "\n"


KEPT_SECTION = "## Mutation testing"  # written by `make mutation`, not by a benchmark run


def write_latest(order: list[str] | None = None, results_dir: Path = RESULTS_DIR) -> Path:
    """Rewrite LATEST.md from the results, keeping the mutation section a bench run cannot
    remake (it comes from `make mutation`, minutes of its own)."""
    kept = ""
    if LATEST_MD.exists():
        old = LATEST_MD.read_text(encoding="utf-8")
        start = old.find(f"\n{KEPT_SECTION}")
        if start >= 0:
            kept = old[start:].lstrip("\n")
    text = render_markdown(load_results(results_dir), order)
    LATEST_MD.write_text(text + ("\n" + kept if kept else ""), encoding="utf-8")
    return LATEST_MD
