"""FLUX (Black Forest Labs) models: the rules every FLUX route checks, and how a body is read.

Foundry serves FLUX through two doors (its OpenAI-style Image API and the BFL provider route) and
BFL serves it itself (image-models-2026.md §5). The size, seed and safety rules belong to the
models, not to the doors, so they live here once; each route only chooses how a broken rule is
worded (a 400 on Foundry, a pydantic-like 422 on BFL's own API). Rules the reference leaves open
are the emulator's choices, listed in docs/emulator.md.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from devstack.emulator import edits
from devstack.emulator.edits import InputInfo, UndecodableImage
from devstack.emulator.models import InvalidParameter

FLUX_11_PRO = "FLUX-1.1-pro"
FLUX_KONTEXT_PRO = "FLUX.1-Kontext-pro"
FLUX_2_PRO = "FLUX.2-pro"
FLUX_2_FLEX = "FLUX.2-flex"

# BFL's path names differ from the model ids (A14, A15): path → model.
BFL_PATHS: dict[str, str] = {
    "flux-2-pro": FLUX_2_PRO,
    "flux-2-flex": FLUX_2_FLEX,
    "flux-kontext-pro": FLUX_KONTEXT_PRO,
    "flux-pro-1.1": FLUX_11_PRO,
}
# FLUX.2 is not offered on Foundry's OpenAI-compatible Image API (M1, A14).
IMAGE_API_MODELS = frozenset({FLUX_11_PRO, FLUX_KONTEXT_PRO})
IMAGE_API_FIELDS = frozenset({"prompt", "n", "size", "output_format", "model"})
OUTPUT_FORMATS = ("jpeg", "png")
_WXH = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")
_NUMBERED_INPUT = re.compile(r"^input_image_([0-9]+)$")
_ASPECT = re.compile(r"^([1-9][0-9]{0,3}):([1-9][0-9]{0,3})$")


@dataclass(frozen=True)
class FluxRules:
    """What one FLUX model accepts, whichever route it is reached through."""

    model: str
    multiple: int  # both edges are multiples of this
    min_edge: int
    max_edge: int | None
    max_pixels: int | None
    bfl_default_size: tuple[int, int]  # BFL routes; the Image API's default is 1024x1024
    max_safety_tolerance: int
    # FLUX.2 takes input_image, input_image_2 … input_image_N; Kontext only input_image.
    max_input_images: int  # on Foundry's provider route
    numbered_inputs: bool
    flex: bool  # guidance and steps exist
    bfl_api_max_input_images: int | None = None  # on BFL's own API, where it differs (flex: 8)

    def input_limit(self, own_api: bool) -> int:
        if own_api and self.bfl_api_max_input_images is not None:
            return self.bfl_api_max_input_images
        return self.max_input_images

    def size_problem(self, width: int, height: int) -> tuple[str, str, str] | None:
        """The first size rule broken, as (field, pydantic-like message, pydantic type)."""
        for field, value in (("width", width), ("height", height)):
            if value < self.min_edge:
                return (
                    field,
                    f"Input should be greater than or equal to {self.min_edge}",
                    "greater_than_equal",
                )
            if self.max_edge is not None and value > self.max_edge:
                return (
                    field,
                    f"Input should be less than or equal to {self.max_edge}",
                    "less_than_equal",
                )
            if value % self.multiple:
                return field, f"Input should be a multiple of {self.multiple}", "multiple_of"
        if self.max_pixels is not None and width * height > self.max_pixels:
            return (
                "size",
                f"Value error, {width}x{height} is over {self.model}'s limit of "
                f"{self.max_pixels:,} pixels ({self.max_pixels / 1_048_576:g} MP)",
                "value_error",
            )
        return None


_MP = 1_048_576  # a megapixel as a size limit: 1024x1024 is 1 MP, 2048x2048 is 4 MP

RULES: dict[str, FluxRules] = {
    FLUX_11_PRO: FluxRules(FLUX_11_PRO, 32, 256, 1440, None, (1024, 768), 6, 0, False, False),
    FLUX_KONTEXT_PRO: FluxRules(
        FLUX_KONTEXT_PRO, 32, 32, None, _MP, (1024, 1024), 6, 1, False, False
    ),
    FLUX_2_PRO: FluxRules(FLUX_2_PRO, 16, 64, None, 4 * _MP, (1024, 1024), 5, 8, True, False),
    # FLUX.2-flex: 10 references on Foundry (A14), 8 in BFL's API reference (B4/B5).
    FLUX_2_FLEX: FluxRules(FLUX_2_FLEX, 16, 64, None, 4 * _MP, (1024, 1024), 5, 10, True, True, 8),
}

# Kontext's output without width/height: about 1 MP at an aspect of 3:7 … 7:3, multiples of 32
# (B5, B7): the `aspect_ratio` asked for, else the input image's.
KONTEXT_PIXELS = _MP
KONTEXT_MULTIPLE = 32
KONTEXT_MIN_RATIO = 3 / 7
KONTEXT_MAX_RATIO = 7 / 3

# Credits per task (BFL's submit reply carries `cost`): the emulator's figures, not a price list.
# FLUX.2 is priced per output megapixel, the older models per image.
_CREDITS = {FLUX_2_PRO: 3.0, FLUX_2_FLEX: 6.0, FLUX_KONTEXT_PRO: 4.0, FLUX_11_PRO: 4.0}


@dataclass(frozen=True)
class FluxImageApiRequest:
    """A FLUX body on Foundry's Image API that passed validation."""

    model: str
    prompt: str
    width: int
    height: int
    output_format: str


@dataclass(frozen=True)
class BflRequest:
    """A FLUX body on a BFL route (Foundry's provider route or BFL's own API), defaults filled."""

    model: str
    prompt: str
    width: int
    height: int
    output_format: str
    seed: int  # the body's, or `default_seed(prompt)`: always reported, always reproducible
    safety_tolerance: int
    guidance: float | None
    steps: int | None
    input_images: int
    input_mp: float = 0.0  # megapixels of the reference images (BFL's submit reply reports it)

    @property
    def output_mp(self) -> float:
        return round(self.width * self.height / 1_000_000, 4)

    @property
    def cost(self) -> float:
        base = _CREDITS[self.model]
        if self.model in (FLUX_2_PRO, FLUX_2_FLEX):
            return round(base * max(1.0, self.output_mp), 2)
        return base


def default_seed(prompt: str) -> int:
    """The seed of a body without one: derived from the prompt, so the image stays predictable.

    The real service draws a random seed; the emulator keeps every image a pure function of the
    request so a test can compute the bytes a stored blob must hold (`images.render`).
    """
    return int.from_bytes(hashlib.sha256(f"flux-seed\x00{prompt}".encode()).digest()[:4], "big")


# --- Foundry's OpenAI-style Image API -----------------------------------------------------------


def validate_image_api(body: object, model: str) -> FluxImageApiRequest:
    """Check a FLUX body on the Image API; InvalidParameter (with its sentence) on the first fault.

    Only what the Image API documents is accepted: BFL-only parameters (seed, safety_tolerance,
    width/height, …) and OpenAI-only ones (quality, style, response_format, …) are refused by
    name (A14), so a client that mixes the two doors finds out locally.
    """
    if not isinstance(body, dict):
        raise InvalidParameter("body", "not an object", "The request body must be a JSON object.")
    for key in body:
        if key not in IMAGE_API_FIELDS and body[key] is not None:
            raise InvalidParameter(
                key,
                "not on the Image API",
                f"{key} is not supported by {model} on the Image API (accepted: prompt, n, "
                "size, output_format; BFL parameters go to /providers/blackforestlabs/v1/…).",
            )
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidParameter("prompt", "missing", "prompt is required (a non-empty string).")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise InvalidParameter("n", "only 1", f"{model} generates one image per request: n=1.")
    size = body.get("size")
    width, height = 1024, 1024
    if size is not None:
        match = _WXH.match(size) if isinstance(size, str) else None
        if match is None:
            raise InvalidParameter(
                "size",
                "not WxH",
                f"size must be WIDTHxHEIGHT in pixels (e.g. 1024x768), not {size!r}.",
            )
        width, height = int(match.group(1)), int(match.group(2))
        problem = RULES[model].size_problem(width, height)
        if problem is not None:
            raise InvalidParameter(
                "size",
                problem[1],
                f"{size} is not allowed for {model}: {_size_sentence(RULES[model])}.",
            )
    fmt = body.get("output_format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise InvalidParameter("output_format", "png or jpeg", "output_format must be png or jpeg.")
    return FluxImageApiRequest(model, prompt, width, height, fmt or "png")


def _size_sentence(rules: FluxRules) -> str:
    """The whole size rule of a model in one clause, for Foundry's 400 messages."""
    parts = [f"width and height multiples of {rules.multiple}"]
    if rules.max_edge is not None:
        parts.append(f"each {rules.min_edge}-{rules.max_edge}")
    else:
        parts.append(f"each at least {rules.min_edge}")
    if rules.max_pixels is not None:
        parts.append(f"at most {rules.max_pixels:,} pixels ({rules.max_pixels / _MP:g} MP)")
    return ", ".join(parts)


# --- BFL bodies (provider route and BFL's own API) ----------------------------------------------

Problem = tuple[str, str, str]  # (field or "size"/"body", pydantic-like msg, pydantic type)


def _int_field(
    body: dict[str, Any], field: str, low: int, high: int | None
) -> tuple[int | None, Problem | None]:
    value = body.get(field)
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int):
        return None, (field, "Input should be a valid integer", "int_type")
    if value < low:
        return None, (
            field,
            f"Input should be greater than or equal to {low}",
            "greater_than_equal",
        )
    if high is not None and value > high:
        return None, (field, f"Input should be less than or equal to {high}", "less_than_equal")
    return value, None


def _number_field(
    body: dict[str, Any], field: str, low: float, high: float
) -> tuple[float | None, Problem | None]:
    value = body.get(field)
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, (field, "Input should be a valid number", "float_type")
    if value < low:
        return None, (
            field,
            f"Input should be greater than or equal to {low:g}",
            "greater_than_equal",
        )
    if value > high:
        return None, (field, f"Input should be less than or equal to {high:g}", "less_than_equal")
    return float(value), None


@dataclass(frozen=True)
class Reference:
    """One reference image of a BFL body, decoded from base64 and its header read."""

    key: str  # input_image, input_image_2, …
    position: int
    data: bytes
    info: InputInfo


def _reference(key: str, value: str, max_bytes: int) -> Reference | Problem:
    """Decode one `input_image*` value: base64 (or a data: URL) of a PNG, JPEG or WebP.

    BFL also takes URLs (B4); the emulator fetches nothing, so a URL is refused by name rather
    than silently generating from no input.
    """
    if value.startswith(("http://", "https://")):
        return (
            key,
            f"Value error, the emulator does not fetch image URLs: send {key} as base64 "
            "(or a data: URL)",
            "value_error",
        )
    data = edits.decode_data_url(value) if value.startswith("data:") else edits.decode_base64(value)
    if data is None:
        return key, f"Value error, {key} is not valid base64", "value_error"
    if len(data) > max_bytes:
        return (
            key,
            f"Value error, {key} is {len(data):,} bytes; an input image may be at most "
            f"{max_bytes:,} bytes",
            "value_error",
        )
    try:
        info = edits.inspect(data)
    except UndecodableImage as exc:
        return key, f"Value error, {key} {exc.reason}", "value_error"
    numbered = _NUMBERED_INPUT.match(key)
    return Reference(key, int(numbered.group(1)) if numbered else 1, data, info)


def _input_images(
    body: dict[str, Any], rules: FluxRules, own_api: bool, max_bytes: int
) -> tuple[list[Reference], list[Problem]]:
    """The reference images in position order; problems for non-strings, extras, bad images."""
    problems: list[Problem] = []
    refs: list[Reference] = []
    limit = rules.input_limit(own_api)
    if limit == 0:
        return refs, problems  # FLUX 1.1 pro has no input_image: an unknown field, ignored
    for key, value in body.items():
        if value is None:
            continue
        numbered = _NUMBERED_INPUT.match(key)
        if key != "input_image" and not (numbered and rules.numbered_inputs):
            continue
        position = int(numbered.group(1)) if numbered else 1
        if numbered and position < 2:
            continue  # input_image_0 / _1 are not fields of the schema: ignored like any other
        if not isinstance(value, str) or not value:
            problems.append((key, "Input should be a valid string (base64 or URL)", "string_type"))
        elif position > limit:
            problems.append(
                (
                    key,
                    f"Value error, {rules.model} takes at most {limit} input images",
                    "value_error",
                )
            )
        else:
            ref = _reference(key, value, max_bytes)
            if isinstance(ref, Reference):
                refs.append(ref)
            else:
                problems.append(ref)
    refs.sort(key=lambda r: r.position)
    return refs, problems


def _aspect_ratio(body: dict[str, Any]) -> tuple[tuple[int, int] | None, Problem | None]:
    value = body.get("aspect_ratio")
    if value is None:
        return None, None
    match = _ASPECT.match(value) if isinstance(value, str) else None
    if match is None:
        return None, (
            "aspect_ratio",
            "Value error, aspect_ratio must be W:H, e.g. 16:9",
            "value_error",
        )
    ratio_w, ratio_h = int(match.group(1)), int(match.group(2))
    if not KONTEXT_MIN_RATIO - 1e-9 <= ratio_w / ratio_h <= KONTEXT_MAX_RATIO + 1e-9:
        return None, (
            "aspect_ratio",
            "Value error, aspect_ratio must be between 3:7 and 7:3",
            "value_error",
        )
    return (ratio_w, ratio_h), None


def kontext_size(ratio_w: float, ratio_h: float) -> tuple[int, int]:
    """Kontext's output at aspect ``ratio_w:ratio_h`` (clamped to 3:7-7:3): about 1 MP, edges
    floored to multiples of 32 (B5, B7)."""
    return edits.aspect_size(
        ratio_w,
        ratio_h,
        pixels=KONTEXT_PIXELS,
        multiple=KONTEXT_MULTIPLE,
        low=KONTEXT_MIN_RATIO,
        high=KONTEXT_MAX_RATIO,
    )


def _output_size(
    rules: FluxRules,
    width: int | None,
    height: int | None,
    aspect: tuple[int, int] | None,
    first: InputInfo | None,
) -> tuple[int, int]:
    """What a BFL body asks for: Kontext's aspect_ratio, else width/height, else (an edit) the
    first input's size (FLUX.2) or aspect (Kontext), else the model's default."""
    if aspect is not None:
        return kontext_size(*aspect)
    if first is not None and rules.model == FLUX_KONTEXT_PRO and width is None and height is None:
        return kontext_size(first.width, first.height)
    if first is not None and rules.numbered_inputs and (width is None or height is None):
        assert rules.max_pixels is not None
        if width is None and height is None:
            return edits.follow_input_size(
                first.width,
                first.height,
                multiple=rules.multiple,
                min_edge=rules.min_edge,
                max_pixels=rules.max_pixels,
            )
        # One edge given: the other keeps the input's aspect, on the model's grid.
        if width is not None:
            other = math.floor(width * first.height / first.width / rules.multiple + 0.5)
            other *= rules.multiple
            return width, max(rules.min_edge, other)
        assert height is not None
        other = math.floor(height * first.width / first.height / rules.multiple + 0.5)
        other *= rules.multiple
        return max(rules.min_edge, other), height
    return (
        width if width is not None else rules.bfl_default_size[0],
        height if height is not None else rules.bfl_default_size[1],
    )


def validate_bfl(
    body: dict[str, Any],
    model: str,
    *,
    max_image_bytes: int,
    own_api: bool = False,
) -> tuple[BflRequest | None, list[Problem], tuple[Reference, ...]]:
    """Read a BFL body for ``model``: the request, every problem found (pydantic reports all),
    and the decoded reference images in order (an edit when there are any).

    Unknown fields are ignored, as the real routes do (T4: `image` instead of `input_image` is
    silently dropped); a wrong value of a known field is refused. ``max_image_bytes`` caps each
    reference (`bfl_input_image_max_bytes`); ``own_api`` selects BFL's own limits where they
    differ from Foundry's (FLUX.2-flex: 8 references, not 10).
    """
    rules = RULES[model]
    problems: list[Problem] = []
    prompt = body.get("prompt")
    if prompt is None:
        problems.append(("prompt", "Field required", "missing"))
    elif not isinstance(prompt, str):
        problems.append(("prompt", "Input should be a valid string", "string_type"))
    elif not prompt.strip():
        problems.append(("prompt", "String should have at least 1 character", "string_too_short"))

    width, p = _int_field(body, "width", 1, None)
    problems += [p] if p else []
    height, p = _int_field(body, "height", 1, None)
    problems += [p] if p else []
    aspect: tuple[int, int] | None = None
    if model == FLUX_KONTEXT_PRO:
        aspect, p = _aspect_ratio(body)
        problems += [p] if p else []
    refs, image_problems = _input_images(body, rules, own_api, max_image_bytes)
    w, h = _output_size(rules, width, height, aspect, refs[0].info if refs else None)
    if not any(f in ("width", "height") for f, _, _ in problems):
        size = rules.size_problem(w, h)
        if size is not None:
            problems.append(size)

    fmt = body.get("output_format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        problems.append(("output_format", "Input should be 'jpeg' or 'png'", "enum"))
    seed, p = _int_field(body, "seed", -(2**63), 2**63 - 1)
    problems += [p] if p else []
    tolerance, p = _int_field(body, "safety_tolerance", 0, rules.max_safety_tolerance)
    problems += [p] if p else []
    for field in ("n", "num_images"):
        _, p = _int_field(body, field, 1, 1)
        problems += [p] if p else []
    guidance: float | None = None
    steps: int | None = None
    if rules.flex:
        guidance, p = _number_field(body, "guidance", 1.5, 10.0)
        problems += [p] if p else []
        steps, p = _int_field(body, "steps", 1, 50)
        problems += [p] if p else []
    problems += image_problems

    if problems or not isinstance(prompt, str):
        return None, problems, ()
    input_mp = round(sum(r.info.width * r.info.height for r in refs) / 1_000_000, 4)
    return (
        BflRequest(
            model=model,
            prompt=prompt,
            width=w,
            height=h,
            output_format=fmt or "jpeg",
            seed=seed if seed is not None else default_seed(prompt),
            safety_tolerance=tolerance if tolerance is not None else 2,
            guidance=guidance if guidance is not None else (4.5 if rules.flex else None),
            steps=steps if steps is not None else (50 if rules.flex else None),
            input_images=len(refs),
            input_mp=input_mp,
        ),
        [],
        tuple(refs),
    )
