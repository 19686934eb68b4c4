"""The tables in docs/ that are generated from the capability table, kept in step like the
connector files: ``python -m shared.openapi --write`` rewrites each between its markers,
``--check`` (and a unit test) fails while one is stale.

- ``edit-models`` (docs/app.md): per model and flavour, what `POST /api/images/edits` takes —
  ``capabilities_for``, the same call the 400s and `GET /api/models` use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.imaging.types import Flavour
from shared.models import CAPABILITIES, MASK_MAX_BYTES, ModelCapabilities, capabilities_for
from shared.openapi.document import size_text

EDIT_MODELS = "edit-models"


def begin_marker(name: str) -> str:
    return f"<!-- BEGIN GENERATED {name}: python -m shared.openapi --write -->"


def end_marker(name: str) -> str:
    return f"<!-- END GENERATED {name} -->"


def _cells(caps: ModelCapabilities) -> tuple[str, ...]:
    if not caps.edits:
        return ("no edits", "—", "—", "—", "—")
    each = size_text(caps.max_input_bytes)
    if caps.max_input_pixels is not None:
        each += f", {caps.max_input_pixels:,} pixels"
    return (
        str(caps.max_input_images),
        ", ".join(caps.input_formats),
        each,
        f"PNG, {size_text(MASK_MAX_BYTES)}" if caps.mask else "no",
        "high, low" if caps.input_fidelity else "no",
    )


def edit_models_table() -> str:
    """One row per set of flavours a model edits alike on, models with the same row merged."""
    lines = [
        "| Models | Flavours | Images per edit | Input formats | Per image | Mask "
        "| `input_fidelity` |",
        "|---|---|---|---|---|---|---|",
    ]
    rows: dict[tuple[tuple[Flavour, ...], tuple[str, ...]], list[str]] = {}
    for family, caps in CAPABILITIES.items():
        groups: dict[tuple[str, ...], list[Flavour]] = {}
        for flavour in Flavour:  # the enum's order: Azure, OpenAI, then the BFL routes
            if flavour in caps.flavours:
                cells = _cells(capabilities_for(family, flavour))
                groups.setdefault(cells, []).append(flavour)
        for cells, on in groups.items():
            rows.setdefault((tuple(on), cells), []).append(family.model_id)
    for (flavours, cells), models in rows.items():
        names = ", ".join(f"`{m}`" for m in models)
        where = ", ".join(f"`{f.value}`" for f in flavours)
        lines.append(f"| {names} | {where} | {' | '.join(cells)} |")
    return "\n".join(lines)


# docs file (relative to the repository) → block name → what goes between its markers
DOC_BLOCKS: Mapping[str, Mapping[str, Callable[[], str]]] = {
    "docs/app.md": {EDIT_MODELS: edit_models_table},
}


def replace_blocks(text: str, blocks: Mapping[str, Callable[[], str]], where: str) -> str:
    """`text` with each named block's content regenerated (its markers kept)."""
    for name, render in blocks.items():
        begin, end = begin_marker(name), end_marker(name)
        start, stop = text.find(begin), text.find(end)
        if start < 0 or stop < start:
            raise ValueError(f"{where}: no {begin!r} ... {end!r} block")
        text = f"{text[: start + len(begin)]}\n{render()}\n{text[stop:]}"
    return text
