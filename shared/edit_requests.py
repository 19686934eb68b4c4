"""`POST /api/images/edits`: the two body forms, read into one request and its input references.

A JSON body names its inputs by reference — `{"job", "index"}` (an image this app stored),
`{"blob"}` (a blob in the images container), `{"url"}` (fetched under the download policy) or
`{"b64_json"}` (inline, as Power Apps sends a camera or pen image; a `data:` URL is accepted too).
A multipart body is OpenAI's own edits form (`image`, repeated or as `image[]`, `mask`, and the
options as text fields), for curl and SDK users. Both end as an `EditRequest` (the options) plus
`InputRef`s (where each input comes from), so one set of rules checks them (`validate_edit`) and
one stager (shared/storage/inputs.py) fetches and checks their bytes.

Inputs are named `images[i]` and `mask` in errors, whichever form sent them (in multipart, the
i-th image part).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ConfigDict, Field, ValidationError, model_validator

from shared.imaging.types import Deployment
from shared.models import (
    CAPABILITIES,
    COMPRESSION_RANGE,
    MAX_N,
    MAX_USER_CHARS,
    SEED_MAX,
    RequestError,
    RequestModel,
    ValidatedRequest,
    capabilities_for,
    load_json,
    request_error,
    resolve_model,
    validate_request,
)
from shared.notify.urls import HTTP_HOSTS_CONTEXT, CallbackUrl

# The route's body cap: far above the 256 KiB of a generation, under the Functions host's own
# 100 MB request limit (so the caller gets this API's error, not the host's), and enough for a
# 20 MB photo sent inline as base64 (27 MB) with a mask. Larger inputs go by `url` or `blob`.
MAX_EDIT_BODY_BYTES = 64 * 1024 * 1024
# The most any model takes (the GPT image line's 16, P3): a body's own cap; each model's is less.
MAX_REFS = max(caps.max_input_images for caps in CAPABILITIES.values())
MAX_BLOB_NAME_CHARS = 1024  # Blob Storage's own limit
INPUT_FIDELITIES = ("high", "low")
_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+)?(;[a-z0-9=.+-]+)*;base64,", re.IGNORECASE)
_MULTIPART_INTS = ("n", "output_compression", "seed")
# A SAS token's parameters (signature, expiry, permissions, ...): a URL signed afresh for the same
# image is the same input for an Idempotency-Key; any other query parameter still tells apart.
SAS = frozenset(
    {
        *("sig", "se", "st", "sp", "sv", "sr", "spr", "sip", "si", "ss", "srt", "sdd", "ses"),
        *("skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid"),
    }
)
MAX_INT_DIGITS = 20  # SEED_MAX has 16; int() refuses over 4300 digits with a ValueError


class ImageRef(RequestModel):
    """One input of a JSON edit request: exactly one of `job` (with `index`), `blob`, `url` and
    `b64_json`."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"job": "3f2b9c4e8a1d4c7e9b0a5d6e7f8a9b0c", "index": 0}]},
    )

    job: str | None = Field(
        default=None, min_length=1, max_length=100, description="A job of this app."
    )
    index: int | None = Field(
        default=None, ge=0, le=MAX_N - 1, strict=True, description="Which image of `job` (0)."
    )
    blob: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BLOB_NAME_CHARS,
        description="A blob name in the images container.",
    )
    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="An https URL on the image-source allow-list (IMAGE_SOURCE_ALLOWED_HOSTS).",
    )
    b64_json: str | None = Field(
        default=None,
        min_length=1,
        description="The image itself, base64 (a data: URL is accepted too).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        given = [k for k in ("job", "blob", "url", "b64_json") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of job, blob, url and b64_json")
        if self.index is not None and self.job is None:
            raise ValueError("index goes with job only")
        return self


class EditRequest(RequestModel):
    """The options of an edit (and, in a JSON body, its inputs). Per-model rules: CAPABILITIES."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "prompt": "make it winter",
                    "model": "gpt-image-2",
                    "images": [{"job": "3f2b9c4e8a1d4c7e9b0a5d6e7f8a9b0c", "index": 0}],
                }
            ]
        },
    )

    prompt: str = Field(min_length=1, max_length=32000, description="What to change.")
    model: str | None = Field(
        default=None, min_length=1, max_length=64, description="A configured model that edits."
    )
    images: list[ImageRef] = Field(
        default_factory=list,
        max_length=MAX_REFS,
        description="The images to edit or combine, in order (the mask applies to the first).",
    )
    mask: ImageRef | None = Field(
        default=None,
        description="A PNG with transparent areas where the first image is to be edited; the "
        "first image's size. GPT image models only.",
    )
    n: int = Field(default=1, ge=1, le=MAX_N, strict=True)
    size: str | None = Field(default=None, max_length=16)
    quality: str | None = Field(default=None, max_length=16)
    output_format: str | None = Field(default=None, max_length=16)
    background: str | None = Field(default=None, max_length=16)
    output_compression: int | None = Field(
        default=None, ge=COMPRESSION_RANGE[0], le=COMPRESSION_RANGE[1], strict=True
    )
    input_fidelity: str | None = Field(
        default=None,
        max_length=16,
        description="high | low: how closely the inputs' faces and details are kept "
        "(gpt-image-1, -1.5, -2; not gpt-image-1-mini).",
    )
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX, strict=True)
    user: str | None = Field(default=None, max_length=MAX_USER_CHARS)
    callback_url: CallbackUrl | None = None


InputKind = Literal["upload", "b64_json", "url", "blob", "job"]


@dataclass(frozen=True)
class InputRef:
    """Where one input comes from, as the stager needs it. `data` holds the bytes of an upload
    or inline image (already in the request body, so in memory anyway); the other kinds are
    streamed by the stager."""

    field: str  # images[i] | mask
    kind: InputKind
    data: bytes | None = None
    url: str | None = None
    blob: str | None = None
    job: str | None = None
    index: int = 0

    def digest_part(self) -> str:
        """What makes this input "the same" for an Idempotency-Key: the bytes for inline data,
        the reference otherwise — a URL without its query string, so a retry that signs the
        same image's URL afresh is still the same request."""
        if self.data is not None:
            return hashlib.sha256(self.data).hexdigest()
        url = None
        if self.url is not None:
            parts = urlsplit(self.url)
            kept = sorted(
                (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in SAS
            )
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
        return json.dumps([self.kind, url, self.blob, self.job, self.index])


@dataclass(frozen=True)
class ParsedEdit:
    """An edit request read from either body form: its options (`request`, whose inline images
    were dropped once decoded into `images`, so the base64 is not held twice) and its inputs."""

    request: EditRequest
    images: list[InputRef]
    mask: InputRef | None

    def digest(self) -> str:
        """The inputs' part of the Idempotency-Key fingerprint (the options are the rest)."""
        parts = [ref.digest_part() for ref in self.images]
        parts.append(self.mask.digest_part() if self.mask is not None else "")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _decode_b64(field: str, value: str) -> bytes:
    payload = _DATA_URL.sub("", value, count=1)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            f"{field}.b64_json is not valid base64 (nor a data: URL of it)",
            field=f"{field}.b64_json",
        ) from None
    if not data:
        raise RequestError(f"{field}.b64_json is empty", field=f"{field}.b64_json")
    return data


def _input_ref(field: str, ref: ImageRef) -> InputRef:
    if ref.b64_json is not None:
        return InputRef(field=field, kind="b64_json", data=_decode_b64(field, ref.b64_json))
    if ref.url is not None:
        return InputRef(field=field, kind="url", url=ref.url)
    if ref.blob is not None:
        return InputRef(field=field, kind="blob", blob=ref.blob)
    return InputRef(field=field, kind="job", job=ref.job, index=ref.index or 0)


def _validated(data: Mapping[str, Any], callback_http_hosts: Iterable[str]) -> EditRequest:
    try:
        context = {HTTP_HOSTS_CONTEXT: tuple(callback_http_hosts)}
        return EditRequest.model_validate(data, context=context)
    except ValidationError as exc:
        raise request_error(exc) from None


def check_body_size(body_bytes: int) -> None:
    """The route's body cap, before a body is read (RequestError naming `body`)."""
    if body_bytes > MAX_EDIT_BODY_BYTES:
        raise RequestError(
            f"the body is larger than {MAX_EDIT_BODY_BYTES} bytes; send large images by url or "
            "blob reference",
            code="body_too_large",
            field="body",
        )


def parse_edit_json(body: bytes, *, callback_http_hosts: Iterable[str] = ()) -> ParsedEdit:
    """A JSON edit body → ParsedEdit, or RequestError naming the field."""
    check_body_size(len(body))
    if not body.strip():
        raise RequestError("the body is empty: send a prompt and images", field="body")
    try:
        data = load_json(body)
    except RequestError as exc:
        raise RequestError(exc.message, field="body") from None
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object", field="body")
    request = _validated(data, callback_http_hosts)
    if not request.images:
        raise RequestError("images is required: at least one image to edit", field="images")
    images = [_input_ref(f"images[{i}]", ref) for i, ref in enumerate(request.images)]
    mask = _input_ref("mask", request.mask) if request.mask is not None else None
    options = request.model_copy(update={"images": [], "mask": None})
    return ParsedEdit(request=options, images=images, mask=mask)


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart body (werkzeug's FileStorage, read)."""

    name: str  # the part's field name
    data: bytes


def parse_edit_form(
    fields: Sequence[tuple[str, str]],
    files: Sequence[UploadedFile],
    body_bytes: int,
    *,
    callback_http_hosts: Iterable[str] = (),
) -> ParsedEdit:
    """A multipart edit body (its text fields and file parts, in order) → ParsedEdit.

    `image` and `image[]` parts are the images in the order sent; `mask` the mask. The integer
    options arrive as text and are read as decimal numbers; a field sent twice, or an unknown
    one, is a 400 naming it."""
    check_body_size(body_bytes)
    data: dict[str, Any] = {}
    for name, value in fields:
        if name in ("image", "image[]", "mask", "images"):
            raise RequestError(f"{name} must be a file part, not a text field", field=name)
        if name in data:
            raise RequestError(f"{name} is given twice", field=name)
        text = value.strip()
        is_number = text.isascii() and text.isdigit()
        if name in _MULTIPART_INTS and is_number and len(text) > MAX_INT_DIGITS:
            raise RequestError(f"{name} is too long a number", field=name)
        data[name] = int(text) if name in _MULTIPART_INTS and is_number else value
    images = [f for f in files if f.name in ("image", "image[]")]
    masks = [f for f in files if f.name == "mask"]
    for part in files:
        if part.name not in ("image", "image[]", "mask"):
            raise RequestError(f"unknown file part {part.name!r}", field=part.name)
    if len(masks) > 1:
        raise RequestError("mask is given twice", field="mask")
    if len(images) > MAX_REFS:
        raise RequestError(
            f"images: at most {MAX_REFS} images per edit (got {len(images)})", field="images"
        )
    request = _validated(data, callback_http_hosts)
    if not images:
        raise RequestError("image is required: at least one image part to edit", field="images")
    refs = []
    for i, part in enumerate(images):
        if not part.data:
            raise RequestError(f"images[{i}] is an empty file", field=f"images[{i}]")
        refs.append(InputRef(field=f"images[{i}]", kind="upload", data=part.data))
    mask = None
    if masks:
        if not masks[0].data:
            raise RequestError("mask is an empty file", field="mask")
        mask = InputRef(field="mask", kind="upload", data=masks[0].data)
    return ParsedEdit(request=request, images=refs, mask=mask)


def validate_edit(
    parsed: ParsedEdit, models: dict[str, Deployment], default_model: str
) -> ValidatedRequest:
    """The model's edit rules (can it edit here, how many images, a mask, input_fidelity), then
    every option rule a generation has; RequestError naming the field otherwise. The inputs'
    bytes are checked when they are staged (shared/storage/inputs.py: `InputLimits`)."""
    request = parsed.request
    name, deployment = resolve_model(request.model, models, default_model)
    caps = capabilities_for(deployment.family, deployment.flavour)
    if not caps.edits:
        where = ""
        if CAPABILITIES[deployment.family].edits:  # it does elsewhere: say the platform lacks it
            where = f" on flavour {deployment.flavour.value}"
        raise RequestError(f"{name} cannot edit images{where}", field="model")
    count = len(parsed.images)
    if count > caps.max_input_images:
        field = f"images[{caps.max_input_images}]"
        raise RequestError(
            f"{name} takes at most {caps.max_input_images} image(s) per edit (got {count})",
            field=field,
        )
    if parsed.mask is not None and not caps.mask:
        raise RequestError(f"{name} does not take a mask", field="mask")
    if request.input_fidelity is not None:
        if not caps.input_fidelity:
            raise RequestError(f"{name} does not support input_fidelity", field="input_fidelity")
        if request.input_fidelity not in INPUT_FIDELITIES:
            raise RequestError(
                f"input_fidelity {request.input_fidelity!r} is not one of "
                f"{', '.join(INPUT_FIDELITIES)}",
                field="input_fidelity",
            )
    return validate_request(request, models, default_model, edit=True)


__all__ = [
    "MAX_EDIT_BODY_BYTES",
    "EditRequest",
    "ImageRef",
    "InputRef",
    "ParsedEdit",
    "UploadedFile",
    "parse_edit_form",
    "parse_edit_json",
    "validate_edit",
]
