"""What each image model accepts, and the check of a request body against it.

The rules mirror the service (see ../shared/reference/aoai-images-contract.md): a request the
real API would refuse must be refused here too, or the app's validation is never exercised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Family = Literal["dall-e-2", "dall-e-3", "gpt-image"]
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


def _gpt_image(name: str) -> ModelSpec:
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
    )


MODELS: dict[str, ModelSpec] = {
    "dall-e-2": _DALLE2,
    "dall-e-3": _DALLE3,
    "gpt-image-1": _gpt_image("gpt-image-1"),
    "gpt-image-1-mini": _gpt_image("gpt-image-1-mini"),
    "gpt-image-1.5": _gpt_image("gpt-image-1.5"),
}

_COMMON = {"prompt", "model", "n", "size", "user", "quality"}
_ALLOWED: dict[Family, set[str]] = {
    "dall-e-2": _COMMON | {"response_format"},
    "dall-e-3": _COMMON | {"response_format", "style"},
    "gpt-image": _COMMON | {"output_format", "output_compression", "background", "moderation"},
}


class InvalidParameter(ValueError):
    """The body breaks a rule; ``field`` is the property the service would name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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


def api_version_too_old(spec: ModelSpec, api_version: str) -> bool:
    """Dates compare as strings; a `-preview` suffix counts as the same date."""
    if spec.min_api_version is None:
        return False
    return api_version[:10] < spec.min_api_version[:10]


def validate_request(body: object, spec: ModelSpec, route: Route) -> ImageRequest:
    """Check ``body`` as the service would for ``spec``; InvalidParameter on the first fault."""
    if not isinstance(body, dict):
        raise InvalidParameter("body", "must be a JSON object")
    allowed = _ALLOWED[spec.family]
    for key in body:
        if key not in allowed and body[key] is not None:
            raise InvalidParameter(key, f"is not supported by {spec.name}")

    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidParameter("prompt", "is required and must be a non-empty string")
    if len(prompt) > spec.max_prompt_chars:
        raise InvalidParameter("prompt", f"is longer than {spec.max_prompt_chars} characters")

    n = _int(body, "n", 1, spec.max_n)
    size = _str(body, "size", spec.sizes) or spec.default_size
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
        formats = ("png", "jpeg", "webp") if route == "openai" else ("png", "jpeg")
        output_format = _str(body, "output_format", formats) or "png"
        compression = _int(body, "output_compression", 0, 100)
        background = _str(body, "background", ("transparent", "opaque", "auto")) or "auto"
        if background == "transparent" and output_format == "jpeg":
            raise InvalidParameter("background", "transparent needs output_format png")
        moderation = _str(body, "moderation", ("low", "auto")) or "auto"
    else:
        fmt = _str(body, "response_format", ("url", "b64_json")) or "url"
        response_format = "url" if fmt == "url" else "b64_json"

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
    )


# Output tokens per image for gpt-image, as OpenAI prices them (quality → size → tokens).
_OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


def usage(req: ImageRequest) -> dict[str, Any]:
    """A plausible, deterministic `usage` block for a gpt-image answer."""
    quality = "medium" if req.quality == "auto" else req.quality
    text_tokens = max(1, math.ceil(len(req.prompt) / 4))
    output = _OUTPUT_TOKENS[quality][req.size] * req.n
    return {
        "input_tokens": text_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
        "output_tokens": output,
        "total_tokens": text_tokens + output,
    }
