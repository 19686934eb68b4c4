"""What each image model accepts, and the check of a request body against it.

The rules mirror the service (see ../shared/reference/aoai-images-contract.md): a request the
real API would refuse must be refused here too, or the app's validation is never exercised.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

Family = Literal["dall-e-2", "dall-e-3", "gpt-image", "flux"]
Route = Literal["azure", "openai", "async"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: Family
    sizes: tuple[str, ...]
    default_size: str
    max_n: int
    max_prompt_chars: int
    qualities: tuple[str, ...]
    default_quality: str
    min_api_version: str | None  # on the Azure deployment route
    # gpt-image-2: any WxH under `free_size_rule` besides `sizes` (which are then only examples).
    free_sizes: bool = False


_DALLE2 = ModelSpec(
    "dall-e-2",
    "dall-e-2",
    ("256x256", "512x512", "1024x1024"),
    "1024x1024",
    10,
    1000,
    ("standard",),
    "standard",
    None,
)
_DALLE3 = ModelSpec(
    "dall-e-3",
    "dall-e-3",
    ("1024x1024", "1792x1024", "1024x1792"),
    "1024x1024",
    1,
    4000,
    ("standard", "hd"),
    "standard",
    "2023-12-01-preview",
)


def _gpt_image(name: str, *, free_sizes: bool = False) -> ModelSpec:
    return ModelSpec(
        name,
        "gpt-image",
        ("1024x1024", "1024x1536", "1536x1024", "auto"),
        "auto",
        10,
        32000,
        ("low", "medium", "high", "auto"),
        "auto",
        "2025-04-01-preview",
        free_sizes,
    )


def _flux(name: str) -> ModelSpec:
    """A FLUX model: its real rules are in `flux.py`; these fields only make it deployable."""
    return ModelSpec(name, "flux", (), "1024x1024", 1, 32000, (), "", "2025-04-01-preview")


MODELS: dict[str, ModelSpec] = {
    "dall-e-2": _DALLE2,
    "dall-e-3": _DALLE3,
    "gpt-image-1": _gpt_image("gpt-image-1"),
    "gpt-image-1-mini": _gpt_image("gpt-image-1-mini"),
    "gpt-image-1.5": _gpt_image("gpt-image-1.5"),
    "gpt-image-2": _gpt_image("gpt-image-2", free_sizes=True),
    # Black Forest Labs on Foundry (image-models-2026.md §5): the names are Foundry's model ids.
    "FLUX-1.1-pro": _flux("FLUX-1.1-pro"),
    "FLUX.1-Kontext-pro": _flux("FLUX.1-Kontext-pro"),
    "FLUX.2-pro": _flux("FLUX.2-pro"),
    "FLUX.2-flex": _flux("FLUX.2-flex"),
}

# gpt-image-2's size rules (image-models-2026.md §2, Azure A1; OpenAI's SDK text agrees).
FREE_SIZE_MULTIPLE = 16
FREE_SIZE_MAX_EDGE = 3840
FREE_SIZE_MAX_RATIO = 3
FREE_SIZE_MIN_PIXELS = 655_360  # 1024x640
FREE_SIZE_MAX_PIXELS = 8_294_400  # 3840x2160
_WXH = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")

# Per platform (§2): what each route accepts for the gpt-image options.
_FORMATS: dict[Route, tuple[str, ...]] = {
    "openai": ("png", "jpeg", "webp"),
    "azure": ("png", "jpeg"),
    "async": ("png",),
}
_COMPRESSIBLE: dict[Route, tuple[str, ...]] = {
    "openai": ("jpeg", "webp"),
    "azure": ("jpeg",),
    "async": (),
}
_WITH_ALPHA: dict[Route, tuple[str, ...]] = {
    "openai": ("png", "webp"),
    "azure": ("png",),
    "async": ("png",),
}

_COMMON = {"prompt", "model", "n", "size", "user", "quality"}
_STREAMING = {"stream", "partial_images"}  # image-models-2026.md §4: GPT image models only
_ALLOWED: dict[Family, set[str]] = {
    "dall-e-2": _COMMON | {"response_format"},
    "dall-e-3": _COMMON | {"response_format", "style"},
    "gpt-image": _COMMON
    | {"output_format", "output_compression", "background", "moderation"}
    | _STREAMING,
}
MAX_PARTIAL_IMAGES = 3
STREAMING_MODELS = "gpt-image-1, gpt-image-1-mini, gpt-image-1.5, gpt-image-2"


class InvalidParameter(ValueError):
    """The body breaks a rule; ``field`` is the property the service would name.

    ``detail`` is a sentence for the wire, set only for rules a client cannot guess from the
    property name alone (gpt-image-2's size rules, per-platform options): plain enum mismatches
    keep the service's bare "Value for property X is invalid." message.
    """

    def __init__(self, field: str, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageRequest:
    """A body that passed validation, with every default filled in."""

    model: ModelSpec
    prompt: str
    n: int
    size: str  # as it will be reported/rendered (gpt-image `auto` → 1024x1024)
    width: int
    height: int
    quality: str
    style: str | None
    response_format: Literal["url", "b64_json"]
    output_format: str
    background: str | None
    transparent: bool
    compression: int | None
    moderation: str | None
    user: str | None
    stream: bool = False
    partial_images: int = 0  # as asked; only a stream sends them


def _str(body: dict[str, Any], field: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameter(field, "must be a string")
    if allowed is not None and value not in allowed:
        raise InvalidParameter(field, f"must be one of {', '.join(allowed)}")
    return value


def _int(body: dict[str, Any], field: str, low: int, high: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(field, "must be an integer")
    if not low <= value <= high:
        raise InvalidParameter(field, f"must be between {low} and {high}")
    return value


def free_size_rule(width: int, height: int) -> str | None:
    """The first gpt-image-2 size rule ``width``x``height`` breaks, or None if it is allowed."""
    long, short = max(width, height), min(width, height)
    if width % FREE_SIZE_MULTIPLE or height % FREE_SIZE_MULTIPLE:
        return f"both edges must be multiples of {FREE_SIZE_MULTIPLE}"
    if long > FREE_SIZE_MAX_EDGE:
        return f"the long edge must be at most {FREE_SIZE_MAX_EDGE} pixels"
    if long > FREE_SIZE_MAX_RATIO * short:
        return f"the long edge must be at most {FREE_SIZE_MAX_RATIO} times the short edge (3:1)"
    pixels = width * height
    if pixels < FREE_SIZE_MIN_PIXELS:
        return f"the image must have at least {FREE_SIZE_MIN_PIXELS:,} pixels (1024x640)"
    if pixels > FREE_SIZE_MAX_PIXELS:
        return f"the image must have at most {FREE_SIZE_MAX_PIXELS:,} pixels (3840x2160)"
    return None


def _size(body: dict[str, Any], spec: ModelSpec) -> str | None:
    """``size`` as given (None when absent): a fixed value, or for gpt-image-2 a free WxH."""
    if not spec.free_sizes:
        return _str(body, "size", spec.sizes)
    size = _str(body, "size")
    if size is None or size == "auto":
        return size
    match = _WXH.match(size)
    if match is None:
        raise InvalidParameter(
            "size",
            "is not WxH",
            f"{spec.name} takes size auto or WIDTHxHEIGHT in pixels (e.g. 2048x1152), "
            f"not {size!r}.",
        )
    broken = free_size_rule(int(match.group(1)), int(match.group(2)))
    if broken is not None:
        raise InvalidParameter("size", broken, f"{size} is not allowed for {spec.name}: {broken}.")
    return size


def _platform(route: Route) -> str:
    return "OpenAI's API" if route == "openai" else "Azure OpenAI"


def _gpt_image_options(
    body: dict[str, Any], route: Route
) -> tuple[str, int | None, str, str | None]:
    """output_format, output_compression, background, moderation: what each platform allows.

    The platforms differ (image-models-2026.md §2): webp, `moderation`, and compression for
    webp exist only on OpenAI's own API, so a client tested against one route must be refused
    what the other route would refuse.
    """
    formats = _FORMATS[route]
    if body.get("output_format") == "webp" and "webp" not in formats:
        raise InvalidParameter(
            "output_format",
            "webp is not supported on Azure",
            f"WEBP isn't supported on {_platform(route)}: use png or jpeg.",
        )
    output_format = _str(body, "output_format", formats) or "png"

    compression = _int(body, "output_compression", 0, 100)
    lossy = _COMPRESSIBLE[route]
    if compression is not None and output_format not in lossy:
        raise InvalidParameter(
            "output_compression",
            "needs a lossy output_format",
            f"output_compression applies only to output_format {' or '.join(lossy)} on "
            f"{_platform(route)}, not to {output_format}.",
        )

    background = _str(body, "background", ("transparent", "opaque", "auto")) or "auto"
    alpha = _WITH_ALPHA[route]
    if background == "transparent" and output_format not in alpha:
        raise InvalidParameter(
            "background",
            "transparent needs an output_format with alpha",
            f"background transparent needs output_format {' or '.join(alpha)} on "
            f"{_platform(route)}, not {output_format}.",
        )

    moderation: str | None = None
    if route == "openai":
        moderation = _str(body, "moderation", ("low", "auto")) or "auto"
    elif body.get("moderation") is not None:
        raise InvalidParameter(
            "moderation",
            "is not supported on Azure",
            f"moderation is not supported on {_platform(route)}.",
        )
    return output_format, compression, background, moderation


def api_version_too_old(spec: ModelSpec, api_version: str) -> bool:
    """Dates compare as strings; a `-preview` suffix counts as the same date.

    The undated ``preview`` (Foundry's FLUX examples, the v1 route) is the newest of all.
    """
    if spec.min_api_version is None or api_version == "preview":
        return False
    return api_version[:10] < spec.min_api_version[:10]


def validate_request(body: object, spec: ModelSpec, route: Route) -> ImageRequest:
    """Check ``body`` as the service would for ``spec``; InvalidParameter on the first fault."""
    if not isinstance(body, dict):
        raise InvalidParameter("body", "must be a JSON object")
    allowed = _ALLOWED[spec.family]
    for key, value in body.items():
        if key == "stream" and value is False:
            continue  # "not a stream" is what every model does
        if key in _STREAMING and key not in allowed and value is not None:
            raise InvalidParameter(
                key,
                f"is not supported by {spec.name}",
                f"{key} is not supported by {spec.name}: only GPT image models "
                f"({STREAMING_MODELS}) stream partial images.",
            )
        if key not in allowed and value is not None:
            raise InvalidParameter(key, f"is not supported by {spec.name}")

    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidParameter("prompt", "is required and must be a non-empty string")
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidParameter("prompt", f"is longer than {spec.max_prompt_chars} characters")

    n = _int(body, "n", 1, spec.max_n)
    size = _size(body, spec) or spec.default_size
    quality = _str(body, "quality", spec.qualities) or spec.default_quality
    _str(body, "user")
    user = body.get("user")

    style: str | None = None
    if spec.family == "dall-e-3":
        style = _str(body, "style", ("vivid", "natural")) or "vivid"

    response_format: Literal["url", "b64_json"] = "b64_json"
    output_format = "png"
    background: str | None = None
    compression: int | None = None
    moderation: str | None = None
    if spec.family == "gpt-image":
        output_format, compression, background, moderation = _gpt_image_options(body, route)
    else:
        fmt = _str(body, "response_format", ("url", "b64_json")) or "url"
        response_format = "url" if fmt == "url" else "b64_json"

    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidParameter("stream", "must be a boolean")
    partial_images = _int(body, "partial_images", 0, MAX_PARTIAL_IMAGES)

    render_size = "1024x1024" if size == "auto" else size
    width, height = (int(v) for v in render_size.split("x"))
    return ImageRequest(
        model=spec,
        prompt=prompt,
        n=n or 1,
        size=render_size,
        width=width,
        height=height,
        quality=quality,
        style=style,
        response_format=response_format,
        output_format=output_format,
        background=background,
        transparent=background == "transparent",
        compression=compression,
        moderation=moderation,
        user=user if isinstance(user, str) else None,
        stream=stream is True,
        partial_images=partial_images or 0,
    )


# Output tokens per image for gpt-image, as OpenAI prices them (quality → size → tokens).
_OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


def output_tokens(quality: str, width: int, height: int) -> int:
    """Tokens of one image: OpenAI's table for the standard sizes, else scaled by pixel count.

    gpt-image-2's free sizes have no published table; scaling the 1024x1024 figure keeps the
    number deterministic and monotonic in the pixel count, which is all a test can rely on.
    """
    table = _OUTPUT_TOKENS["medium" if quality == "auto" else quality]
    known = table.get(f"{width}x{height}")
    if known is not None:
        return known
    return max(1, round(table["1024x1024"] * width * height / (1024 * 1024)))


def usage(req: ImageRequest) -> dict[str, Any]:
    """A plausible, deterministic `usage` block for a gpt-image answer."""
    text_tokens = max(1, math.ceil(len(req.prompt) / 4))
    output = output_tokens(req.quality, req.width, req.height) * req.n
    return {
        "input_tokens": text_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
        "output_tokens": output,
        "total_tokens": text_tokens + output,
    }
