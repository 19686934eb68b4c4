"""Request, job and result models: the one source for validation, error messages and the API schema.

`ImageRequest` checks the shape of a request (types, unknown fields, ranges every model shares);
`CAPABILITIES` says what each model accepts, narrowed per platform by `OPENAI_ONLY`
(`capabilities_for`); `validate_request` applies them and answers with a `RequestError` that
names the offending field. The OpenAPI document and `GET /api/models` are generated from the same
objects, so the documentation cannot drift from what the API enforces.

Option facts come from `../shared/reference/image-models-2026.md` §2 (source keys P3, A1, A8, A9
beside them) and, for FLUX, §5 (A14, A15, M1, B4-B7); the app never reads that file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from shared.imaging.types import (
    BFL_FOUNDRY_MAX_REFERENCES,
    BFL_MAX_REFERENCES,
    MAX_PARTIAL_IMAGES,
    Deployment,
    EditInputs,
    Family,
    Flavour,
    GenerationParams,
    deployment_streams,
)
from shared.notify.urls import HTTP_HOSTS_CONTEXT, CallbackUrl
from shared.storage.records import ImageRecord, InputRecord

MAX_BODY_BYTES = 256 * 1024  # the longest prompt (32 000 chars) is ~128 KiB even fully escaped
MAX_N = 10
MAX_USER_CHARS = 256
ALPHA_FORMATS = ("png", "webp")  # a transparent background needs one of these (P3)
COMPRESSIBLE_FORMATS = ("jpeg", "webp")  # output_compression applies to these only (P3)
COMPRESSION_RANGE = (0, 100)
# Values only OpenAI's own API takes. Azure documents png/jpeg only ("WEBP isn't supported") and
# no moderation parameter (A1); its v1-preview spec enums still list webp, the how-to wins.
OPENAI_ONLY: dict[str, tuple[str, ...]] = {
    "output_format": ("webp",),
    "moderation": ("low", "auto"),
}
_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
# A seed is "an integer" in every FLUX source (B4-B7, A14) with no stated bound [unverified]: the
# largest integer every JSON client (JavaScript, Power Platform) carries exactly.
SEED_MAX = 2**53 - 1
MEGAPIXEL = 1024 * 1024  # "1 MP" / "4 MP" in the FLUX limits read as binary megapixels


class SizeRule(BaseModel):
    """Free `WxH` sizes: edges on a grid, with the bounds a model documents (an absent bound is
    not checked). gpt-image-2 has all of them (A1, P3); the FLUX models only some."""

    model_config = ConfigDict(frozen=True)

    multiple_of: int
    min_edge: int | None = None
    max_edge: int | None = None
    max_ratio: float | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    source: str

    def describe(self) -> str:
        parts = [f"both edges multiples of {self.multiple_of}"]
        if self.min_edge is not None and self.max_edge is not None:
            parts.append(f"each edge {self.min_edge}–{self.max_edge}")
        elif self.max_edge is not None:
            parts.append(f"the long edge at most {self.max_edge}")
        elif self.min_edge is not None:
            parts.append(f"each edge at least {self.min_edge}")
        if self.max_ratio is not None:
            parts.append(f"long:short at most {self.max_ratio:g}:1")
        if self.min_pixels is not None and self.max_pixels is not None:
            parts.append(f"{self.min_pixels:,}–{self.max_pixels:,} pixels in total")
        elif self.max_pixels is not None:
            parts.append(f"at most {self.max_pixels:,} pixels in total")
        if len(parts) == 1:
            return f"any WxH with {parts[0]}"
        return f"any WxH with {', '.join(parts[:-1])} and {parts[-1]}"

    def problem(self, size: str) -> str | None:
        """Why `size` breaks the rule (None: it keeps it)."""
        m = _SIZE.match(size)
        if m is None:
            return "is not WxH (e.g. 2048x1152)"
        width, height = int(m.group(1)), int(m.group(2))
        if width % self.multiple_of or height % self.multiple_of:
            return f"needs both edges to be multiples of {self.multiple_of}"
        if self.min_edge is not None and min(width, height) < self.min_edge:
            return f"has an edge under {self.min_edge}"
        if self.max_edge is not None and max(width, height) > self.max_edge:
            return f"has an edge over {self.max_edge}"
        if self.max_ratio is not None and max(width, height) > self.max_ratio * min(width, height):
            return f"is wider than {self.max_ratio:g}:1 (long:short)"
        pixels = width * height
        low = self.min_pixels or 0
        if self.max_pixels is not None and not low <= pixels <= self.max_pixels:
            if self.min_pixels is None:
                return f"has {pixels:,} pixels; at most {self.max_pixels:,} are accepted"
            return (
                f"has {pixels:,} pixels; between {self.min_pixels:,} and {self.max_pixels:,} "
                "are accepted"
            )
        if pixels < low:
            return f"has {pixels:,} pixels; at least {low:,} are needed"
        return None


GPT_IMAGE_2_SIZES = SizeRule(
    multiple_of=16,
    max_edge=3840,
    max_ratio=3,
    min_pixels=655_360,
    max_pixels=8_294_400,
    source="A1, P3",
)
# FLUX sizes are width/height on the BFL routes; the Image API takes them as `size` "WxH" (§5).
# Foundry also states 1.6 MP as FLUX-1.1-pro's largest output (A14): 1440x1440 exceeds it, but
# the rule below is BFL's own (B6) until a Foundry refusal says otherwise.
FLUX_1_1_PRO_SIZES = SizeRule(multiple_of=32, min_edge=256, max_edge=1440, source="B6")
FLUX_KONTEXT_SIZES = SizeRule(multiple_of=32, max_pixels=MEGAPIXEL, source="A14, B5, B7")
FLUX_2_SIZES = SizeRule(multiple_of=16, min_edge=64, max_pixels=4 * MEGAPIXEL, source="A14, B4, B5")

# Edit inputs (§3, §5). "< 50 MB" per image for the GPT image line (P3, A3); Kontext takes
# "≤ 20 MB / 20 MP" (B5, B7), which no FLUX.2 source contradicts, so it stands for every FLUX
# reference image; a mask is a PNG "< 4 MB" (P3, A8). BFL takes base64 or a URL of "an image"
# with no stated formats [unverified]: png, jpeg and webp are offered, the service decides.
GPT_IMAGE_MAX_INPUTS = 16
GPT_IMAGE_MAX_INPUT_BYTES = 50 * 1000 * 1000 - 1
FLUX_MAX_INPUT_BYTES = 20 * 1000 * 1000
FLUX_MAX_INPUT_PIXELS = 20 * 1000 * 1000
MASK_MAX_BYTES = 4 * 1000 * 1000 - 1

# The platforms that speak OpenAI's image request shape: every family before FLUX is configured
# on these (which of them serves which model is the service's to refuse, as before).
OPENAI_SHAPED = frozenset(
    {Flavour.AZURE_DALLE2_ASYNC, Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI}
)
# On Foundry's OpenAI-compatible Image API a FLUX request carries prompt, n and size only:
# "seed/aspect_ratio/safety_tolerance/output_format etc. only on the BFL route" (A14, A15).
FLUX_IMAGE_API_DROPS = ("output_format", "seed")
BFL_ROUTES_ONLY = "the BFL routes only: flavour bfl-foundry or bfl"


class ModelCapabilities(BaseModel):
    """What one model accepts (on OpenAI's API, the widest platform; `capabilities_for` narrows
    it). `None` for an option means the model has no such option."""

    model_config = ConfigDict(frozen=True)

    family: Family
    prompt_max_chars: int
    n_max: int
    sizes: tuple[str, ...]
    default_size: str
    size_rule: SizeRule | None = None  # free sizes besides `sizes`
    qualities: tuple[str, ...] | None = None
    styles: tuple[str, ...] | None = None
    output_formats: tuple[str, ...] | None = None
    backgrounds: tuple[str, ...] | None = None
    moderations: tuple[str, ...] | None = None
    output_compression: bool = False  # 0-100, with a format in COMPRESSIBLE_FORMATS
    returns: Literal["url", "b64_json"] = "url"
    single_image_per_call: bool = False  # DALL-E 3: n>1 fans out into n calls
    seed: bool = False  # takes `seed` (FLUX on the BFL routes)
    # FLUX documents no default width/height, and its platforms' default formats differ (BFL's
    # own API: jpeg, B4): the job names the default size and png, so every FLUX flavour draws
    # the same image format and size for the same request.
    sends_defaults: bool = False
    # Which flavours serve the model (settings refuse any other at load), and per flavour what
    # differs: the reply kind and the options that platform lacks (with the reason, for the 400).
    flavours: frozenset[Flavour] = OPENAI_SHAPED
    returns_on: dict[Flavour, Literal["url", "b64_json"]] = Field(default_factory=dict)
    drops_on: dict[Flavour, tuple[str, ...]] = Field(default_factory=dict)
    missing_here: dict[str, str] = Field(default_factory=dict)  # option -> where it exists
    # Image edits (`POST /api/images/edits`, image-models-2026.md §3, §5): on which flavours, how
    # many reference images (per flavour where it differs), which formats and how large, whether
    # a mask and `input_fidelity` are taken. `edits` False: the model cannot edit at all.
    edits: bool = False
    edit_flavours: frozenset[Flavour] = frozenset()
    max_input_images: int = 0
    max_input_images_on: dict[Flavour, int] = Field(default_factory=dict)
    input_formats: tuple[str, ...] = ()
    max_input_bytes: int = 0
    max_input_pixels: int | None = None
    mask: bool = False
    input_fidelity: bool = False

    def options(self, field: str) -> tuple[str, ...] | None:
        return {
            "size": self.sizes,
            "quality": self.qualities,
            "style": self.styles,
            "output_format": self.output_formats,
            "background": self.backgrounds,
            "moderation": self.moderations,
        }[field]

    def compression_formats(self) -> tuple[str, ...]:
        if not self.output_compression:
            return ()
        return tuple(f for f in self.output_formats or () if f in COMPRESSIBLE_FORMATS)

    def alpha_formats(self) -> tuple[str, ...]:
        return tuple(f for f in self.output_formats or () if f in ALPHA_FORMATS)

    def describe(self) -> dict[str, Any]:
        """The options as `GET /api/models` and the OpenAPI document show them."""
        entry: dict[str, Any] = {
            "family": self.family.value,
            "prompt_max_chars": self.prompt_max_chars,
            "n_max": self.n_max,
            "default_size": self.default_size,
        }
        for option in OPTION_FIELDS:
            values = self.options(option)
            if values is not None:
                entry[option] = list(values)
        if self.size_rule is not None:
            entry["size_rule"] = self.size_rule.describe()
        formats = self.compression_formats()
        if formats:
            low, high = COMPRESSION_RANGE
            entry["output_compression"] = {"min": low, "max": high, "formats": list(formats)}
        if self.seed:
            entry["seed"] = True
        entry["edits"] = self.edits
        entry["max_input_images"] = self.max_input_images
        if self.edits:
            entry["input_formats"] = list(self.input_formats)
            entry["max_input_bytes"] = self.max_input_bytes
            entry["mask"] = self.mask
            entry["input_fidelity"] = self.input_fidelity
        return entry


def _gpt_image(family: Family, size_rule: SizeRule | None = None) -> ModelCapabilities:
    """The GPT image line shares its options (P3, A1): only gpt-image-2's sizes differ. Edits:
    up to 16 images, each png/jpeg/webp under 50 MB (webp on OpenAI only: Azure says "png or
    jpg"), a PNG mask, `input_fidelity` on all but gpt-image-1-mini (P3, A3, A8, O1). Azure's
    gpt-image-2 edits are [unverified]: offered, the service has the last word."""
    return ModelCapabilities(
        family=family,
        prompt_max_chars=32000,
        n_max=MAX_N,
        sizes=("1024x1024", "1024x1536", "1536x1024", "auto"),
        default_size="auto",
        size_rule=size_rule,
        qualities=("low", "medium", "high", "auto"),
        output_formats=("png", "jpeg", "webp"),
        backgrounds=("transparent", "opaque", "auto"),
        moderations=("low", "auto"),
        output_compression=True,
        returns="b64_json",
        edits=True,
        edit_flavours=frozenset({Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI}),
        max_input_images=GPT_IMAGE_MAX_INPUTS,
        input_formats=("png", "jpeg", "webp"),
        max_input_bytes=GPT_IMAGE_MAX_INPUT_BYTES,
        mask=True,
        input_fidelity=family is not Family.GPT_IMAGE_1_MINI,
    )


def _flux(
    family: Family,
    sizes: SizeRule,
    flavours: frozenset[Flavour],
    *,
    max_inputs: int = 0,
    max_inputs_on: dict[Flavour, int] | None = None,
) -> ModelCapabilities:
    """A FLUX model: one image per call (A14), png/jpeg (A14, B4-B7), `seed`, free sizes.

    No source states a prompt limit for FLUX: the request's own cap (32,000) stands, so a long
    prompt is the service's to refuse. Replies: URLs on the Image API (A14) and from BFL's own
    API (`result.sample`, B3), base64 on Foundry's BFL route (M1)."""
    return ModelCapabilities(
        family=family,
        prompt_max_chars=32000,
        n_max=1,
        sizes=("1024x1024",),
        default_size="1024x1024",
        size_rule=sizes,
        output_formats=("png", "jpeg"),
        seed=True,
        sends_defaults=True,
        flavours=flavours,
        returns_on={Flavour.BFL_FOUNDRY: "b64_json"},
        drops_on={Flavour.AZURE_DEPLOYMENT: FLUX_IMAGE_API_DROPS},
        edits=max_inputs > 0,
        # Kontext edits on the Image API too (A14); FLUX.2 is on the BFL routes only.
        edit_flavours=flavours if max_inputs > 0 else frozenset(),
        max_input_images=max_inputs,
        max_input_images_on=max_inputs_on or {},
        input_formats=("png", "jpeg", "webp") if max_inputs > 0 else (),
        max_input_bytes=FLUX_MAX_INPUT_BYTES if max_inputs > 0 else 0,
        max_input_pixels=FLUX_MAX_INPUT_PIXELS if max_inputs > 0 else None,
    )


KONTEXT = Family.FLUX_1_KONTEXT_PRO


def _references(family: Family) -> dict[str, Any]:
    """`_flux`'s reference-image counts, from the one table the BFL clients use too."""
    on = BFL_FOUNDRY_MAX_REFERENCES[family]
    return {
        "max_inputs": BFL_MAX_REFERENCES[family],
        "max_inputs_on": {Flavour.BFL_FOUNDRY: on} if on != BFL_MAX_REFERENCES[family] else None,
    }


# FLUX-1.1-pro and Kontext are on Foundry's Image API (A14); FLUX.2 is not ("OpenAI-compatible
# API: not supported", M1, A14). BFL's own API serves all four (B4, B6, B7).
FLUX_1_FLAVOURS = frozenset({Flavour.AZURE_DEPLOYMENT, Flavour.BFL_FOUNDRY, Flavour.BFL})
FLUX_2_FLAVOURS = frozenset({Flavour.BFL_FOUNDRY, Flavour.BFL})

CAPABILITIES: dict[Family, ModelCapabilities] = {
    Family.DALLE2: ModelCapabilities(
        family=Family.DALLE2,
        prompt_max_chars=1000,
        n_max=10,
        sizes=("256x256", "512x512", "1024x1024"),
        default_size="1024x1024",
    ),
    Family.DALLE3: ModelCapabilities(
        family=Family.DALLE3,
        prompt_max_chars=4000,
        n_max=MAX_N,
        sizes=("1024x1024", "1792x1024", "1024x1792"),
        default_size="1024x1024",
        qualities=("standard", "hd"),
        styles=("vivid", "natural"),
        single_image_per_call=True,
    ),
    Family.GPT_IMAGE: _gpt_image(Family.GPT_IMAGE),
    Family.GPT_IMAGE_1_MINI: _gpt_image(Family.GPT_IMAGE_1_MINI),
    Family.GPT_IMAGE_1_5: _gpt_image(Family.GPT_IMAGE_1_5),
    Family.GPT_IMAGE_2: _gpt_image(Family.GPT_IMAGE_2, GPT_IMAGE_2_SIZES),
    Family.FLUX_1_1_PRO: _flux(Family.FLUX_1_1_PRO, FLUX_1_1_PRO_SIZES, FLUX_1_FLAVOURS),
    Family.FLUX_1_KONTEXT_PRO: _flux(
        Family.FLUX_1_KONTEXT_PRO, FLUX_KONTEXT_SIZES, FLUX_1_FLAVOURS, **_references(KONTEXT)
    ),
    Family.FLUX_2_PRO: _flux(
        Family.FLUX_2_PRO, FLUX_2_SIZES, FLUX_2_FLAVOURS, **_references(Family.FLUX_2_PRO)
    ),
    Family.FLUX_2_FLEX: _flux(
        Family.FLUX_2_FLEX, FLUX_2_SIZES, FLUX_2_FLAVOURS, **_references(Family.FLUX_2_FLEX)
    ),
}

OPTION_FIELDS = ("size", "quality", "style", "output_format", "background", "moderation")
_OPTION_ATTR = {"output_format": "output_formats", "moderation": "moderations"}


def flavour_problem(family: Family, flavour: Flavour) -> str | None:
    """Why `family` cannot be configured on `flavour` (None: it can): the settings' check."""
    caps = CAPABILITIES[family]
    if flavour in caps.flavours:
        return None
    served = ", ".join(sorted(f.value for f in caps.flavours))
    return f"{family.model_id} is not served on flavour {flavour.value} (it is on: {served})"


def capabilities_for(family: Family, flavour: Flavour) -> ModelCapabilities:
    """What a model takes on the platform a flavour reaches: OPENAI_ONLY values are dropped
    everywhere but OpenAI's API (an option left with no value is no option at all), a family's
    `drops_on` options on that flavour, and the reply kind is the flavour's."""
    caps = CAPABILITIES[family]
    platform: dict[str, Any] = {}
    if flavour in caps.returns_on:
        platform["returns"] = caps.returns_on[flavour]
    if caps.edits and flavour not in caps.edit_flavours:
        platform.update(
            edits=False,
            max_input_images=0,
            input_formats=(),
            max_input_bytes=0,
            max_input_pixels=None,
            mask=False,
            input_fidelity=False,
        )
    elif flavour in caps.max_input_images_on:
        platform["max_input_images"] = caps.max_input_images_on[flavour]
    formats = platform.get("input_formats", caps.input_formats)
    if flavour is not Flavour.OPENAI and "webp" in formats and family.is_gpt_image:
        platform["input_formats"] = tuple(f for f in formats if f != "webp")
    dropped = caps.drops_on.get(flavour)
    if dropped:
        for option in dropped:
            platform[_OPTION_ATTR.get(option, option)] = False if option == "seed" else None
        platform["missing_here"] = dict.fromkeys(dropped, BFL_ROUTES_ONLY)
    if platform:
        caps = caps.model_copy(update=platform)
    if flavour is Flavour.OPENAI:
        return caps
    update: dict[str, tuple[str, ...] | None] = {}
    for option, only in OPENAI_ONLY.items():
        values = caps.options(option)
        if values is None:
            continue
        kept = tuple(v for v in values if v not in only)
        update[_OPTION_ATTR[option]] = kept or None
    return caps.model_copy(update=update)


class RequestModel(BaseModel):
    """A request body's model: text is stripped of surrounding whitespace, but a length cap
    applies to the text as sent — the schema's `maxLength` counts what the caller sent, and a
    32 001-character prompt must not pass because its first character was a space."""

    @field_validator("*", mode="before")
    @classmethod
    def _length_as_sent(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and info.field_name is not None:
            field = cls.model_fields[info.field_name]
            if field.annotation not in (str, str | None):  # a list's max_length is its count
                return value
            limit = next((m.max_length for m in field.metadata if isinstance(m, MaxLen)), None)
            if limit is not None and len(value) > limit:
                raise PydanticCustomError(
                    "string_too_long",
                    "String should have at most {max_length} characters",
                    {"max_length": limit},
                )
        return value


class ImageRequest(RequestModel):
    """The body of `POST /api/images`. Per-model rules live in CAPABILITIES."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"prompt": "a badger wearing a tuxedo", "model": "gpt-image-2"}]
        },
    )

    prompt: str = Field(
        min_length=1,
        max_length=32000,
        description="What to draw. Longest accepted: 1000 chars (dall-e-2), 4000 (dall-e-3), "
        "32000 (the gpt-image and FLUX models).",
    )
    model: str | None = Field(
        default=None, min_length=1, max_length=64, description="A configured model name."
    )
    n: int = Field(default=1, ge=1, le=MAX_N, description="How many images.", strict=True)
    size: str | None = Field(default=None, max_length=16)
    quality: str | None = Field(default=None, max_length=16)
    style: str | None = Field(default=None, max_length=16)
    output_format: str | None = Field(default=None, max_length=16)
    background: str | None = Field(default=None, max_length=16)
    output_compression: int | None = Field(
        default=None,
        ge=COMPRESSION_RANGE[0],
        le=COMPRESSION_RANGE[1],
        strict=True,
        description="0-100 (100: least compressed); only with output_format jpeg or webp.",
    )
    moderation: str | None = Field(default=None, max_length=16)
    seed: int | None = Field(
        default=None,
        ge=0,
        le=SEED_MAX,
        strict=True,
        description="FLUX models on the BFL routes only: the same seed and prompt give the same "
        "image.",
    )
    user: str | None = Field(
        default=None,
        max_length=MAX_USER_CHARS,
        description="End-user id, passed on for abuse monitoring.",
    )
    callback_url: CallbackUrl | None = None


class ApiErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ApiError(BaseModel):
    """Every 4xx/5xx body: `{"error": {"code", "message", "field"?}}`."""

    error: ApiErrorBody
    # A failed job's 422 only: how its callback / results-queue delivery went, when it asked.
    notification: dict[str, Any] | None = None


class RequestError(Exception):
    """A request we refuse before starting anything: becomes a 4xx naming the field."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "invalid_request",
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status

    def body(self) -> dict[str, Any]:
        return ApiError(
            error=ApiErrorBody(code=self.code, message=self.message, field=self.field)
        ).model_dump(exclude_none=True)


class ValidatedRequest(BaseModel):
    """A request that passed every rule: which deployment, and what to ask it."""

    model_config = ConfigDict(frozen=True)

    deployment: Deployment
    params: GenerationParams


def field_name(loc: Iterable[int | str]) -> str:
    """A pydantic error location as the API names fields: `images[1].url`, `mask`."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name


def request_error(exc: ValidationError) -> RequestError:
    # Only a JSON object is validated (parse_body refuses anything else first), so the first
    # error always names a field.
    first = exc.errors()[0]
    field = field_name(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return RequestError(f"unknown field {field!r}", field=field)
    if kind == "missing":
        return RequestError(f"{field} is required", field=field)
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # not "instance of ImageRef"
        return RequestError(f"{field} must be a JSON object", field=field)
    if kind == "string_too_short" and field == "prompt":
        return RequestError("prompt must not be empty", field=field)
    message = str(first["msg"]).removeprefix("Value error, ")
    if not message.startswith(field):
        message = f"{field}: {message}"
    return RequestError(message, field=field)


def load_json(body: bytes) -> Any:
    """json.loads with every way it can refuse a body turned into a 400 naming the body.

    Not all of them are ValueErrors: a deeply nested array or object (``[[[[...``) raises
    RecursionError from the C scanner, which would otherwise escape as a 500. A valid JSON number
    with more than 4300 digits raises a plain ValueError (int's digit limit), which is valid JSON
    but nothing this API can read, so it is told apart from a syntax error.
    """
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 text (send a JSON object)") from None
    except json.JSONDecodeError:
        raise RequestError("the body is not valid JSON") from None
    except RecursionError:
        raise RequestError("the body is nested too deeply to be a request") from None
    except ValueError:
        raise RequestError("the body holds a number too long to read") from None


def parse_body(body: bytes, *, callback_http_hosts: Iterable[str] = ()) -> ImageRequest:
    """Bytes of a request body → ImageRequest, or RequestError (size cap, JSON, shape).
    `callback_http_hosts`: hosts a `callback_url` may name over plain http
    (CALLBACK_ALLOW_HTTP_HOSTS)."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"the body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")
    if not body.strip():
        raise RequestError("the body is empty: send a JSON object with at least a prompt")
    data = load_json(body)
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    try:
        context = {HTTP_HOSTS_CONTEXT: tuple(callback_http_hosts)}
        return ImageRequest.model_validate(data, context=context)
    except ValidationError as exc:
        raise request_error(exc) from None


def resolve_model(
    requested: str | None, models: dict[str, Deployment], default_model: str
) -> tuple[str, Deployment]:
    """The configured model a request names (or the default), or a 400 naming `model`."""
    name = requested or default_model
    deployment = models.get(name)
    if deployment is None:
        raise RequestError(
            f"unknown model {name!r}; available: {', '.join(sorted(models))}", field="model"
        )
    return name, deployment


def validate_request(
    request: ImageRequest | Any,
    models: dict[str, Deployment],
    default_model: str,
    *,
    edit: bool = False,
) -> ValidatedRequest:
    """Apply the chosen model's capabilities on its deployment's platform (flavour); the first
    broken rule becomes a RequestError naming the field. `edit`: the request is an edit
    (shared/edit_requests.py checked its inputs), whose output size follows the input unless
    asked, so no default size is filled in for FLUX."""
    name, deployment = resolve_model(request.model, models, default_model)
    caps = capabilities_for(deployment.family, deployment.flavour)
    if len(request.prompt) > caps.prompt_max_chars:
        raise RequestError(
            f"prompt is {len(request.prompt)} characters; {name} accepts at most "
            f"{caps.prompt_max_chars}",
            field="prompt",
        )
    if request.n > caps.n_max:
        if caps.n_max == 1:
            raise RequestError(f"n must be 1 for {name}: it makes one image per call", field="n")
        raise RequestError(f"n must be between 1 and {caps.n_max} for {name}", field="n")
    values: dict[str, str | None] = {}
    for field in OPTION_FIELDS:
        value = getattr(request, field, None)  # an edit request has no style / moderation
        values[field] = value
        if value is not None:
            _check_option(name, caps, field, value)
    if request.seed is not None and not caps.seed:
        raise RequestError(
            f"{name} does not support seed{_where(caps, 'seed', ' (FLUX models only)')}",
            field="seed",
        )
    _check_format_rules(name, caps, values, request.output_compression)
    if caps.sends_defaults:
        if not edit:
            values["size"] = values["size"] or caps.default_size
        if caps.output_formats is not None:
            values["output_format"] = values["output_format"] or "png"
    params = GenerationParams(
        prompt=request.prompt,
        n=request.n,
        size=values["size"],
        quality=values["quality"],
        style=values["style"],
        output_format=values["output_format"],
        background=values["background"],
        output_compression=request.output_compression,
        moderation=values["moderation"],
        seed=request.seed,
        input_fidelity=getattr(request, "input_fidelity", None),
        user=request.user,
    )
    return ValidatedRequest(deployment=deployment, params=params)


def _where(caps: ModelCapabilities, field: str, otherwise: str = "") -> str:
    """Where an option missing here exists, so that the 400 says which platform to use."""
    if field in caps.missing_here:
        return f" on this platform ({caps.missing_here[field]})"
    if field in OPENAI_ONLY:
        return " on this platform (OpenAI's API only)"
    return otherwise


def _check_option(name: str, caps: ModelCapabilities, field: str, value: str) -> None:
    allowed = caps.options(field)
    if allowed is None:
        raise RequestError(f"{name} does not support {field}{_where(caps, field)}", field=field)
    if value in allowed:
        return
    if field == "size" and caps.size_rule is not None:
        problem = caps.size_rule.problem(value)
        if problem is None:
            return
        raise RequestError(
            f"size {value!r} {problem}; {name} takes {', '.join(allowed)} or "
            f"{caps.size_rule.describe()}",
            field=field,
        )
    # Only where the model itself has the value (gpt-image's webp), not for FLUX's png/jpeg.
    on_openai = value in (CAPABILITIES[caps.family].options(field) or ())
    # (capabilities_for narrows an option only by OPENAI_ONLY: such a value is one of those.)
    hint = " (webp only on OpenAI's API)" if on_openai else ""
    raise RequestError(
        f"{field} {value!r} is not available for {name}{hint}; choose one of {', '.join(allowed)}",
        field=field,
    )


def _check_format_rules(
    name: str, caps: ModelCapabilities, values: dict[str, str | None], compression: int | None
) -> None:
    """Rules between options: transparency needs alpha, compression a lossy format. An absent
    output_format is the service's default, png (P3)."""
    fmt = values["output_format"] or "png"
    if values["background"] == "transparent" and fmt not in ALPHA_FORMATS:
        raise RequestError(
            f"a transparent background needs output_format {' or '.join(caps.alpha_formats())}",
            field="background",
        )
    if compression is None:
        return
    formats = caps.compression_formats()
    if not formats:
        raise RequestError(
            f"{name} does not support output_compression", field="output_compression"
        )
    if fmt not in formats:
        raise RequestError(
            f"output_compression needs output_format {' or '.join(formats)} (the format is {fmt})",
            field="output_compression",
        )


# ---- what travels through the orchestration (small, no bytes, no signed URLs) ----------------


class EditJob(BaseModel):
    """An edit's part of the job: its staged inputs (images in order, then the mask), and the
    digest of the request's references, which an Idempotency-Key repeat must match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[InputRecord]
    digest: str

    def blobs(self) -> EditInputs:
        """What the generating activity is told: blob names only."""
        images = tuple(r.blob for r in self.inputs if r.field != "mask")
        masks = [r.blob for r in self.inputs if r.field == "mask"]
        return EditInputs(images=images, mask=masks[0] if masks else None)


class JobInput(BaseModel):
    """The orchestration's input: everything it needs, decided once by the HTTP starter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    model: str
    deployment: Deployment
    params: GenerationParams
    created: str  # ISO-8601 UTC, when the request was accepted
    deadline_seconds: int
    max_attempts: int
    callback_url: str | None = None  # POSTed the result when the job ends (shared.notify)
    results_queue: str | None = None  # or/and the result goes on this Storage queue
    edit: EditJob | None = None  # an edit (POST /api/images/edits): its staged inputs
    # Partial images the service streams while it works (IMAGE_PARTIAL_IMAGES, for a one-image
    # job on a model that streams; 0: none). 0 for jobs accepted before previews existed.
    partial_images: int = Field(default=0, ge=0, le=MAX_PARTIAL_IMAGES)


class ImageView(ImageRecord):
    """An image in the API's result: the record plus a fresh read-only SAS URL."""

    # a response may gain fields: its schema does not promise there are no others
    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str


class InputView(InputRecord):
    """An edit's input in the API's result: the record plus a fresh read-only SAS URL."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str


class JobErrorBody(BaseModel):
    code: str
    message: str


Stage = Literal[
    "queued",
    "generating",
    "waiting_to_retry",
    "polling",
    "storing",
    "cleaning_up",
    "canceling",
    "notifying",
    "completed",
    "failed",
    "canceled",
]


class PreviewView(BaseModel):
    """The latest partial image of one of the job's images, while it is being generated."""

    index: int = Field(description="The image's index in the job (0 for the first).")
    frame: int = Field(description="The partial image's number: a newer frame is a higher one.")
    url: str = Field(
        description="A signed link (no key needed) that redirects to the frame; it changes "
        "with the frame, so an image element pointed at it reloads."
    )


class Progress(BaseModel):
    """The orchestration's customStatus, shown while a job runs. `created` and `partial_images`
    come from the job's input (the orchestrator sets them); `previews` never sits in history:
    the status routes fill it in on read, from the preview blobs (signed links)."""

    stage: Stage
    images_done: int = 0
    images_total: int
    attempts: int = 0
    retry_after_seconds: float | None = None
    operation_status: str | None = None
    last_error: str | None = None
    # Only a job that streams has these (its status stays as small as before otherwise).
    created: str | None = Field(
        default=None, description="When the job was accepted (ISO); a streaming job only."
    )
    partial_images: int | None = Field(
        default=None,
        description="Partial images the job streams per image; absent: no previews.",
    )
    previews: list[PreviewView] | None = Field(
        default=None, description="The latest partial image of each image being generated."
    )


class JobOutput(BaseModel):
    """The orchestration's output (kept in history: blob names only, no URLs). A canceled job
    (`DELETE /api/images/{id}`) keeps no images and no inputs: its blobs were deleted."""

    id: str
    status: Literal["succeeded", "failed", "canceled"]
    model: str
    prompt: str
    created: str
    completed: str
    images: list[ImageRecord] = Field(default_factory=list)
    inputs: list[InputRecord] | None = None  # an edit's inputs (None: a generation)
    error: JobErrorBody | None = None
    notification: dict[str, Any] | None = None  # how the callback / results queue went


class JobResult(BaseModel):
    """`GET /api/images/{id}` for a finished job: the output with a SAS URL per image."""

    id: str
    status: Literal["succeeded"]
    model: str
    prompt: str
    created: str
    completed: str
    images: list[ImageView]
    inputs: list[InputView] | None = None  # an edit's inputs, each with a fresh SAS URL
    notification: dict[str, Any] | None = None  # callback / results queue delivery, if asked


class JobAccepted(BaseModel):
    """`202` for `POST /api/images` and for a running job."""

    id: str
    status: str
    statusQueryGetUri: str  # the name Power Automate and Durable clients expect
    progress: Progress | None = None


# ---- GET /api/models ---------------------------------------------------------------------------


class CompressionInfo(BaseModel):
    min: int
    max: int
    formats: list[str]


class LifecycleInfo(BaseModel):
    """Where the model stands on its platform today (shared.lifecycle, with the sources)."""

    platform: Literal["azure", "openai", "bfl"]
    status: Literal["GA", "preview", "deprecated", "retired"]
    deprecation_date: str | None = None
    retirement_date: str | None = None
    replacement: str | None = None
    source: str
    note: str | None = None


class ModelInfo(BaseModel):
    """One configured model and what a request to it may say (on its deployment's platform)."""

    # a response may gain fields: its schema does not promise there are no others
    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="What a request puts in `model`.")
    model: str = Field(description="The model behind it, e.g. gpt-image-1.5.")
    family: Family
    flavour: Flavour
    default: bool = Field(description="Used when a request names no model.")
    prompt_max_chars: int
    n_max: int
    sizes: list[str]
    size_rule: str | None = Field(
        default=None, description="Free WxH sizes, when the model has them."
    )
    default_size: str
    quality: list[str] | None = None
    style: list[str] | None = None
    output_format: list[str] | None = None
    background: list[str] | None = None
    moderation: list[str] | None = None
    output_compression: CompressionInfo | None = None
    seed: bool = Field(default=False, description="Accepts `seed` (an integer >= 0).")
    returns: Literal["url", "b64_json"]
    edits: bool = Field(description="Takes `POST /api/images/edits` on this platform.")
    max_input_images: int = Field(description="Most images one edit takes (0: no edits).")
    input_formats: list[str] | None = Field(
        default=None, description="Edits: the input image formats taken."
    )
    max_input_bytes: int | None = Field(default=None, description="Edits: the most per image.")
    mask: bool | None = Field(default=None, description="Edits: takes a mask.")
    input_fidelity: bool | None = Field(default=None, description="Edits: takes input_fidelity.")
    previews: bool = Field(
        default=False,
        description="Streams partial images: a one-image job's progress offers previews.",
    )
    lifecycle: LifecycleInfo | None = None


class ModelList(BaseModel):
    """`GET /api/models`."""

    default_model: str
    models: list[ModelInfo]


def model_list(
    models: dict[str, Deployment],
    default_model: str,
    lifecycle: dict[str, Any],
    partial_images: int = MAX_PARTIAL_IMAGES,
) -> ModelList:
    """The configured models with their options; `lifecycle` maps a name to its row (as
    `Lifecycle.as_dict(today)`), so this stays free of the clock. `partial_images`:
    IMAGE_PARTIAL_IMAGES (0: no model offers previews)."""
    entries = []
    for name, deployment in models.items():
        caps = capabilities_for(deployment.family, deployment.flavour)
        described = caps.describe()  # its "size" list is ModelInfo's `sizes` (extra ignored)
        entries.append(
            ModelInfo(
                name=name,
                model=deployment.family.model_id,
                flavour=deployment.flavour,
                default=name == default_model,
                sizes=list(caps.sizes),
                returns=caps.returns,
                previews=partial_images > 0 and deployment_streams(deployment),
                lifecycle=lifecycle.get(name),
                **described,
            )
        )
    return ModelList(default_model=default_model, models=entries)
