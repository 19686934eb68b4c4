"""``python -m bench.mutation``: the mutation score of the last ``mutmut run``, per module.

mutmut keeps its verdicts in ``mutants/<module>.meta``; this reads those of exactly the modules
listed under ``[tool.mutmut] only_mutate`` in pyproject.toml (the one list of what is mutated), so
a module added there shows up here without touching this script. A figure, never a verdict:
``make mutation`` prints it and does not fail on it.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
# Verdicts that mean "the tests noticed": mutmut's own badge counts a timeout as caught, and a
# mutant the type checker rejects never reaches a user.
CAUGHT = frozenset({"killed", "timeout", "caught by type check"})


@dataclass(frozen=True)
class ModuleScore:
    module: str
    counts: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def caught(self) -> int:
        return sum(n for status, n in self.counts.items() if status in CAUGHT)

    @property
    def other(self) -> int:
        """No tests, suspicious, not checked, segfault: neither caught nor plainly survived."""
        return self.total - self.caught - self.counts["survived"]

    @property
    def percent(self) -> float | None:
        return 100.0 * self.caught / self.total if self.total else None


def mutated_modules(root: Path = ROOT) -> list[str]:
    config = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def module_score(module: str, root: Path = ROOT) -> ModuleScore | None:
    """The verdicts of one module's mutants, or None when mutmut has not generated them."""
    meta = root / "mutants" / f"{module}.meta"
    if not meta.exists():
        return None
    exit_codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return ModuleScore(module, Counter(status_by_exit_code[code] for code in exit_codes.values()))


def table(scores: list[ModuleScore]) -> str:
    header = f"{'module':<36} {'killed':>7} {'survived':>9} {'other':>6} {'total':>6} {'%':>7}"
    lines = [header, "-" * len(header)]

    def row(name: str, s: ModuleScore) -> str:
        pct = "-" if s.percent is None else f"{s.percent:.1f}"
        return (
            f"{name:<36} {s.caught:>7} {s.counts['survived']:>9} {s.other:>6} {s.total:>6} {pct:>7}"
        )

    lines += [row(s.module, s) for s in scores]
    overall = ModuleScore("total", sum((s.counts for s in scores), Counter()))
    lines += ["-" * len(header), row("total", overall)]
    return "\n".join(lines)


def main() -> int:
    modules = mutated_modules()
    scores = [s for s in (module_score(m) for m in modules) if s is not None]
    missing = [m for m in modules if module_score(m) is None]
    if not scores:
        print("No mutmut results under mutants/: run `make mutation` first.", file=sys.stderr)
        return 1
    print(table(scores))
    print("\nkilled includes timeouts; other = no tests / suspicious / not checked.")
    for module in missing:
        print(f"no results for {module} (not mutated yet)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
