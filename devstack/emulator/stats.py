"""What the emulator served, and above all what it billed.

The billed count is the figure that proves the app never pays for the same image twice, so it is
counted at exactly one place per accepted generation and nowhere else.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    generations: int = 0
    images: int = 0
    edits: int = 0  # of the generations, those that were edits
    by_deployment: dict[str, Counter[str]] = field(default_factory=dict)
    by_prompt: dict[str, Counter[str]] = field(default_factory=dict)
    by_status: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def bill(self, deployment: str, prompt: str, images: int, *, edit: bool = False) -> None:
        """One accepted generation: a sync 200, or a DALL-E 2 submit that will produce a result.

        An edit is a generation too (billed the same way) and is also counted in ``edits``.
        """
        self.generations += 1
        self.edits += edit
        self.images += images
        for table, key in ((self.by_deployment, deployment), (self.by_prompt, prompt)):
            counts = table.setdefault(key, Counter())
            counts["generations"] += 1
            counts["images"] += images

    def served(self, status: int) -> None:
        self.by_status[str(status)] += 1

    def event(self, name: str) -> None:
        self.events[name] += 1

    def snapshot(self) -> dict[str, Any]:
        fives = sum(n for code, n in self.by_status.items() if code.startswith("5"))
        return {
            "billed": {
                "generations": self.generations,
                "images": self.images,
                "edits": self.edits,
                "by_deployment": {k: dict(v) for k, v in sorted(self.by_deployment.items())},
                "by_prompt": {k: dict(v) for k, v in sorted(self.by_prompt.items())},
            },
            "served": {
                "rate_limited_429": self.by_status.get("429", 0),
                "injected_429": self.events.get("injected_429", 0),
                "server_errors_5xx": fives,
                "dropped_connections": self.events.get("dropped", 0),
                "image_downloads": self.events.get("download", 0),
                "truncated_downloads": self.events.get("truncated", 0),
                "throttled_downloads": self.events.get("throttled", 0),
                "prompts_filtered": self.events.get("prompt_filtered", 0),
                "images_filtered": self.events.get("image_filtered", 0),
                "operations_canceled": self.events.get("canceled", 0),
                "by_status": dict(sorted(self.by_status.items())),
            },
        }
