"""Request, job and result models: the one source for validation, error messages and the API schema.

`ImageRequest` checks the shape of a request (types, unknown fields, ranges every model shares);
`CAPABILITIES` says what each model family accepts; `validate_request` applies both and answers
with a `RequestError` that names the offending field. The OpenAPI document is generated from the
same two objects, so the documentation cannot drift from what the API enforces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.imaging.types import Deployment, Family, GenerationParams
from shared.notify.urls import HTTP_HOSTS_CONTEXT, CallbackUrl
from shared.storage.records import ImageRecord

MAX_BODY_BYTES = 256 * 1024  # the longest prompt (32 000 chars) is ~128 KiB even fully escaped
MAX_N = 10
MAX_USER_CHARS = 256


class ModelCapabilities(BaseModel):
    """What one model family accepts. `None` for an option means the family has no such option."""

    model_config = ConfigDict(frozen=True)

    family: Family
    prompt_max_chars: int
    n_max: int
    sizes: tuple[str, ...]
    default_size: str
    qualities: tuple[str, ...] | None = None
    styles: tuple[str, ...] | None = None
    output_formats: tuple[str, ...] | None = None
    backgrounds: tuple[str, ...] | None = None
    returns: Literal["url", "b64_json"] = "url"
    single_image_per_call: bool = False  # DALL-E 3: n>1 fans out into n calls

    def options(self, field: str) -> tuple[str, ...] | None:
        return {
            "size": self.sizes,
            "quality": self.qualities,
            "style": self.styles,
            "output_format": self.output_formats,
            "background": self.backgrounds,
        }[field]


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
    Family.GPT_IMAGE: ModelCapabilities(
        family=Family.GPT_IMAGE,
        prompt_max_chars=32000,
        n_max=MAX_N,
        sizes=("1024x1024", "1024x1536", "1536x1024", "auto"),
        default_size="auto",
        qualities=("low", "medium", "high", "auto"),
        output_formats=("png", "jpeg"),
        backgrounds=("transparent", "opaque", "auto"),
        returns="b64_json",
    ),
}

OPTION_FIELDS = ("size", "quality", "style", "output_format", "background")


class ImageRequest(BaseModel):
    """The body of `POST /api/images`. Per-model rules live in CAPABILITIES."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"prompt": "a badger wearing a tuxedo", "model": "dall-e-3"}]
        },
    )

    prompt: str = Field(
        min_length=1,
        max_length=32000,
        description="What to draw. Longest accepted: 1000 chars (dall-e-2), 4000 (dall-e-3), "
        "32000 (gpt-image).",
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


def _pydantic_error(exc: ValidationError) -> RequestError:
    # Only a JSON object is validated (parse_body refuses anything else first), so the first
    # error always names a field.
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return RequestError(f"unknown field {field!r}", field=field)
    if kind == "missing":
        return RequestError(f"{field} is required", field=field)
    if kind == "string_too_short" and field == "prompt":
        return RequestError("prompt must not be empty", field=field)
    message = str(first["msg"]).removeprefix("Value error, ")
    if not message.startswith(field):
        message = f"{field}: {message}"
    return RequestError(message, field=field)


def _load_json(body: bytes) -> Any:
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
    data = _load_json(body)
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    try:
        context = {HTTP_HOSTS_CONTEXT: tuple(callback_http_hosts)}
        return ImageRequest.model_validate(data, context=context)
    except ValidationError as exc:
        raise _pydantic_error(exc) from None


def validate_request(
    request: ImageRequest, models: dict[str, Deployment], default_model: str
) -> ValidatedRequest:
    """Apply the chosen model's capabilities; the first broken rule becomes a RequestError."""
    name = request.model or default_model
    deployment = models.get(name)
    if deployment is None:
        raise RequestError(
            f"unknown model {name!r}; available: {', '.join(sorted(models))}", field="model"
        )
    caps = CAPABILITIES[deployment.family]
    if len(request.prompt) > caps.prompt_max_chars:
        raise RequestError(
            f"prompt is {len(request.prompt)} characters; {name} accepts at most "
            f"{caps.prompt_max_chars}",
            field="prompt",
        )
    if request.n > caps.n_max:
        raise RequestError(f"n must be between 1 and {caps.n_max} for {name}", field="n")
    values: dict[str, str | None] = {}
    for field in OPTION_FIELDS:
        value = getattr(request, field)
        allowed = caps.options(field)
        if value is None:
            values[field] = None
            continue
        if allowed is None:
            raise RequestError(f"{name} does not support {field}", field=field)
        if value not in allowed:
            raise RequestError(
                f"{field} {value!r} is not available for {name}; choose one of "
                f"{', '.join(allowed)}",
                field=field,
            )
        values[field] = value
    if values["background"] == "transparent" and values["output_format"] == "jpeg":
        raise RequestError("a transparent background needs output_format png", field="background")
    params = GenerationParams(
        prompt=request.prompt,
        n=request.n,
        size=values["size"],
        quality=values["quality"],
        style=values["style"],
        output_format=values["output_format"],
        background=values["background"],
        user=request.user,
    )
    return ValidatedRequest(deployment=deployment, params=params)


# ---- what travels through the orchestration (small, no bytes, no signed URLs) ----------------


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


class ImageView(ImageRecord):
    """An image in the API's result: the record plus a fresh read-only SAS URL."""

    # a response may gain fields: its schema does not promise there are no others
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
    "notifying",
    "completed",
    "failed",
]


class Progress(BaseModel):
    """The orchestration's customStatus, shown while a job runs."""

    stage: Stage
    images_done: int = 0
    images_total: int
    attempts: int = 0
    retry_after_seconds: float | None = None
    operation_status: str | None = None
    last_error: str | None = None


class JobOutput(BaseModel):
    """The orchestration's output (kept in history: blob names only, no URLs)."""

    id: str
    status: Literal["succeeded", "failed"]
    model: str
    prompt: str
    created: str
    completed: str
    images: list[ImageRecord] = Field(default_factory=list)
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
    notification: dict[str, Any] | None = None  # callback / results queue delivery, if asked


class JobAccepted(BaseModel):
    """`202` for `POST /api/images` and for a running job."""

    id: str
    status: str
    statusQueryGetUri: str  # the name Power Automate and Durable clients expect
    progress: Progress | None = None
