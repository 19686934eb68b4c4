"""When each image model stops working, per platform: the one lifecycle table of the app.

Image models are retired on fixed dates, and a retired deployment fails every job with a bare
"deployment not found". This table lets the app say so before it happens (a warning when the
settings are first read, and at `python -m devstack start`), list it in `GET /api/models`, and
turn the service's refusal into "retired on <date>, use <replacement>".

The facts are copied from `../shared/reference/image-models-2026.md` §1 (Azure: §1a, OpenAI's own
API: §1b; Black Forest Labs' own API: §5c) with that file's source keys in `source`; the app never
reads that file. A status is
the documented one; `status_on(today)` derives "deprecated" / "retired" from the dates, so the
table stays right as days pass. Pure: no I/O, no pydantic (the devstack calls it, and it must
stay cheap to import).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from shared.imaging.types import Deployment

Platform = Literal["azure", "openai", "bfl"]
PLATFORM_NAMES: dict[str, str] = {"azure": "Azure", "openai": "OpenAI", "bfl": "Black Forest Labs"}
WARN_WITHIN = timedelta(days=30)
# Where a retired model's documented replacement is missing or itself retired.
CURRENT_MODEL = "gpt-image-2"


class Status(StrEnum):
    GA = "GA"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


@dataclass(frozen=True)
class Lifecycle:
    """One model on one platform, as the sources document it."""

    model: str
    platform: Platform
    status: Status  # as documented; see status_on for today's
    retirement: date | None
    replacement: str | None
    source: str  # the reference file's source keys
    deprecation: date | None = None
    note: str = ""  # where the sources disagree, what was chosen

    def status_on(self, today: date) -> Status:
        if self.retirement is not None and self.retirement <= today:
            return Status.RETIRED
        if self.deprecation is not None and self.deprecation <= today:
            return Status.DEPRECATED
        return self.status

    def as_dict(self, today: date) -> dict[str, str | None]:
        """What `GET /api/models` shows for it."""
        return {
            "platform": self.platform,
            "status": self.status_on(today).value,
            "deprecation_date": self.deprecation.isoformat() if self.deprecation else None,
            "retirement_date": self.retirement.isoformat() if self.retirement else None,
            "replacement": self.replacement,
            "source": self.source,
            "note": self.note or None,
        }


def _row(
    model: str,
    platform: Platform,
    status: Status,
    retirement: str | None,
    replacement: str | None,
    source: str,
    *,
    deprecation: str | None = None,
    note: str = "",
) -> Lifecycle:
    return Lifecycle(
        model=model,
        platform=platform,
        status=status,
        retirement=date.fromisoformat(retirement) if retirement else None,
        replacement=replacement,
        source=source,
        deprecation=date.fromisoformat(deprecation) if deprecation else None,
        note=note,
    )


_ROWS = (
    # §1a Azure OpenAI / Foundry
    _row("dall-e-2", "azure", Status.RETIRED, "2025-01-27", "gpt-image-1", "A6"),
    _row(
        "dall-e-3",
        "azure",
        Status.RETIRED,
        "2026-03-04",
        "gpt-image-1.5",
        "A4, A7",
        note="the retirement notice (A7) says 'gpt-image-1 or gpt-image-1.5'",
    ),
    _row(
        "gpt-image-1",
        "azure",
        Status.PREVIEW,
        "2026-10-23",
        "gpt-image-1.5",
        "A4, A5, A1",
        note="limited access; the Jul-2026 schedule (A5) dates it 2026-10-23 and lists no "
        "replacement, the older table (A4) said 2026-05-15 → gpt-image-1.5",
    ),
    _row(
        "gpt-image-1-mini",
        "azure",
        Status.GA,
        "2027-04-07",
        None,
        "A4, A5, A2",
        deprecation="2026-10-06",
    ),
    _row(
        "gpt-image-1.5",
        "azure",
        Status.GA,
        "2026-12-16",
        None,
        "A4, A5, A2",
        note="'no earlier than 2026-12-16'; the how-to include (A2) still says limited preview",
    ),
    _row(
        "gpt-image-2",
        "azure",
        Status.GA,
        "2027-04-21",
        None,
        "A4, A5, A1",
        note="'no earlier than 2027-04-21'; GA per A1 (Apr-2026) and A5 (Jul-2026), the older "
        "table (A4) said preview",
    ),
    # §1b OpenAI's own API (flavour `openai`)
    _row(
        "dall-e-2",
        "openai",
        Status.RETIRED,
        "2026-05-12",
        "gpt-image-1",
        "O3, T8",
        note="at the notice: gpt-image-1 / gpt-image-1-mini",
    ),
    _row(
        "dall-e-3",
        "openai",
        Status.RETIRED,
        "2026-05-12",
        "gpt-image-1",
        "O3, T8",
        note="at the notice: gpt-image-1 / gpt-image-1-mini",
    ),
    _row(
        "gpt-image-1",
        "openai",
        Status.GA,
        "2026-10-23",
        "gpt-image-2.5-sunburst",
        "T7, A5",
        note="[unverified]: a release note speaks of image models retired on 2026-10-23",
    ),
    _row(
        "gpt-image-1-mini",
        "openai",
        Status.DEPRECATED,
        "2026-12-01",
        "gpt-image-2.5-sunburst",
        "O4, T11",
        deprecation="2026-06-02",
        note="another version of the page names gpt-image-2.6-sunburst or -flare",
    ),
    _row(
        "gpt-image-1.5",
        "openai",
        Status.DEPRECATED,
        "2026-12-01",
        "gpt-image-2.5-sunburst",
        "O4, T11",
        deprecation="2026-06-02",
        note="another version of the page names gpt-image-2.6-sunburst or -flare",
    ),
    _row("gpt-image-2", "openai", Status.GA, None, None, "O2, P3"),
    # §1a FLUX on Foundry (flavours azure-deployment and bfl-foundry): GA, nothing announced
    _row("FLUX-1.1-pro", "azure", Status.GA, None, None, "A5, A14"),
    _row("FLUX.1-Kontext-pro", "azure", Status.GA, None, None, "A5, A14"),
    _row("FLUX.2-pro", "azure", Status.GA, None, None, "A5, A14"),
    _row(
        "FLUX.2-flex",
        "azure",
        Status.GA,
        None,
        None,
        "A5, A14",
        note="registration required before deployment",
    ),
    # §5c Black Forest Labs' own API (flavour `bfl`): served, no retirement in the sources
    _row("FLUX-1.1-pro", "bfl", Status.GA, None, None, "B6", note="active; none announced"),
    _row("FLUX.1-Kontext-pro", "bfl", Status.GA, None, None, "B7", note="active; none announced"),
    _row("FLUX.2-pro", "bfl", Status.GA, None, None, "B4", note="active; none announced"),
    _row("FLUX.2-flex", "bfl", Status.GA, None, None, "B4", note="active; none announced"),
)

LIFECYCLE: dict[tuple[str, Platform], Lifecycle] = {(r.model, r.platform): r for r in _ROWS}


def platform_of(flavour: str) -> Platform:
    """Flavour `openai` is OpenAI's API, `bfl` Black Forest Labs' own; every other flavour is an
    Azure deployment (Foundry's BFL route `bfl-foundry` included: Azure retires those)."""
    if flavour == "openai":
        return "openai"
    return "bfl" if flavour == "bfl" else "azure"


def lifecycle_of(model: str, platform: Platform) -> Lifecycle | None:
    return LIFECYCLE.get((model, platform))


def lifecycle_for(deployment: Deployment) -> Lifecycle | None:
    """The row of a configured model (its family names the model, its flavour the platform)."""
    return lifecycle_of(deployment.family.model_id, platform_of(deployment.flavour.value))


def successor(row: Lifecycle, today: date) -> str:
    """What to use instead: the documented replacement, followed while it is itself retired
    (or retires within 30 days) on the same platform; the current model where no lasting
    replacement is documented. Pointing a user at a model that stops in a fortnight helps no one.
    """
    seen = {row.model}
    current: Lifecycle | None = row
    while current is not None and current.replacement is not None:
        name = current.replacement
        nxt = lifecycle_of(name, row.platform)
        if nxt is None or not _ending(nxt, today):
            return name
        if name in seen:
            break
        seen.add(name)
        current = nxt
    return CURRENT_MODEL


def _ending(row: Lifecycle, today: date) -> bool:
    return row.retirement is not None and row.retirement - today <= WARN_WITHIN


def warning_for(name: str, row: Lifecycle, today: date) -> str | None:
    """The start-up warning for a configured model that is retired or retires within 30 days."""
    if row.retirement is None:
        return None
    where = PLATFORM_NAMES[row.platform]
    if row.retirement <= today:
        return (
            f"model {name!r} ({row.model}) was retired on {where} on "
            f"{row.retirement.isoformat()}: jobs on it will fail; use {successor(row, today)} "
            f"(source {row.source})"
        )
    if row.retirement - today <= WARN_WITHIN:
        days = (row.retirement - today).days
        return (
            f"model {name!r} ({row.model}) retires on {where} on {row.retirement.isoformat()} "
            f"(in {days} days); move to {successor(row, today)} (source {row.source})"
        )
    return None


def model_warnings(models: Mapping[str, Deployment], today: date) -> list[str]:
    """Every configured model's warning, in the configuration's order."""
    found = []
    for name, deployment in models.items():
        row = lifecycle_for(deployment)
        text = warning_for(name, row, today) if row is not None else None
        if text is not None:
            found.append(text)
    return found


def retired_message(deployment: Deployment, today: date) -> str | None:
    """The job's error when the service refused a retired model, or None when it is not."""
    row = lifecycle_for(deployment)
    if row is None or row.status_on(today) is not Status.RETIRED or row.retirement is None:
        return None
    where = PLATFORM_NAMES[row.platform]
    return (
        f"{row.model} was retired on {where} on {row.retirement.isoformat()}; "
        f"use {successor(row, today)} instead (configure it in IMAGE_MODELS)."
    )
