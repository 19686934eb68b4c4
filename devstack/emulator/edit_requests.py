"""Reading and checking `images/edits` bodies: multipart (every platform) and JSON (OpenAI).

A body is first read into an `EditForm` (files and scalar fields, nothing checked), then checked
against the model and the platform (image-models-2026.md §3): gpt-image takes 1-16 images
(png/jpeg/webp on OpenAI, png/jpeg on Azure, judged by magic bytes), each under
`edit_image_max_bytes`, and one PNG mask with an alpha channel, under `edit_mask_max_bytes`, of
the first image's dimensions; FLUX.1-Kontext-pro on Foundry's Image API takes exactly one image.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from devstack.emulator import edits, flux
from devstack.emulator.edits import InputInfo, UndecodableImage
from devstack.emulator.models import (
    ImageRequest,
    InvalidParameter,
    ModelSpec,
    Route,
    validate_request,
)

MAX_IMAGES = 16  # gpt-image models (P3); Azure's count is unverified, the same is assumed
IMAGE_FIELDS = ("image", "image[]")
JSON_IMAGE_URL_MAX_CHARS = 20_971_520  # ImageRefParam.image_url (O1)
_INT_FIELDS = ("n", "output_compression", "partial_images")
_INTEGER = re.compile(r"^-?[0-9]{1,9}$")
_FORMATS: dict[Route, tuple[str, ...]] = {
    "openai": ("png", "jpeg", "webp"),
    "azure": ("png", "jpeg"),
    "async": ("png",),
}
_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


class BodyTooLarge(Exception):
    """The body is over `edit_max_body_bytes`: answered 413 before anything else is read."""


@dataclass
class EditForm:
    """An edit body as read: the files in order, the mask, the scalar fields (unchecked)."""

    images: list[bytes] = field(default_factory=list)
    mask: bytes | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    image_field: str = "image"  # what the body calls its images: `image` or JSON's `images`
    json: bool = False


# --- reading ------------------------------------------------------------------------------------


async def _read_part(part: BodyPartReader, budget: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(1 << 20):
        size += len(chunk)
        if size > budget:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_multipart(request: web.Request, max_body: int) -> EditForm:
    """The parts of a multipart/form-data body, streamed with a cap on the total size.

    `image` and `image[]` (repeated or mixed) are the images in the order sent (P5, O1, A3);
    `mask` is one file; every other part is a text field, given at most once.
    """
    form = EditForm()
    budget = max_body
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InvalidParameter("body", "nested", "Nested multipart bodies are not read.")
            name = part.name or ""
            data = await _read_part(part, budget)
            budget -= len(data)
            if name in IMAGE_FIELDS:
                form.images.append(data)
            elif name == "mask":
                if form.mask is not None:
                    raise InvalidParameter("mask", "twice", "Send one mask file, not several.")
                form.mask = data
            else:
                if name in form.fields:
                    raise InvalidParameter(name, "twice", f"{name} is given more than once.")
                try:
                    form.fields[name] = _scalar(name, data.decode("utf-8"))
                except UnicodeDecodeError:
                    raise InvalidParameter(name, "not text", f"{name} is not UTF-8 text.") from None
    except (ValueError, AssertionError) as exc:  # aiohttp asserts on some malformed bodies
        if isinstance(exc, InvalidParameter):
            raise
        raise InvalidParameter(
            "body", "malformed", f"The multipart/form-data body cannot be read ({exc})."
        ) from exc
    return form


def _scalar(name: str, text: str) -> Any:
    """Form fields are text: the integer ones become ints so one validator serves both bodies."""
    if name in _INT_FIELDS and _INTEGER.match(text.strip()):
        return int(text.strip())
    if name == "stream" and text.strip().lower() in ("false", "0"):
        return None  # the SDK's default, spelled out: not a stream
    if name == "stream" and text.strip().lower() in ("true", "1"):
        return True  # what the SDK's `stream=True` becomes in a form
    return text


def _image_ref(value: object, where: str) -> bytes:
    """One JSON `ImageRefParam`: exactly one of `image_url` (a data: URL here) or `file_id`."""
    if not isinstance(value, dict):
        raise InvalidParameter(where, "not an object", f"{where} must be an object.")
    keys = set(value)
    if len(keys) != 1 or not keys <= {"image_url", "file_id"}:
        raise InvalidParameter(
            where,
            "one key",
            f"{where} takes exactly one of image_url or file_id, and no other key.",
        )
    if "file_id" in value:
        raise InvalidParameter(
            where,
            "file_id",
            f"{where}.file_id refers to the Files API, which the emulator does not have: send "
            "image_url as a data: URL (data:image/png;base64,...).",
        )
    url = value["image_url"]
    if not isinstance(url, str) or not url:
        raise InvalidParameter(where, "not a string", f"{where}.image_url must be a string.")
    if len(url) > JSON_IMAGE_URL_MAX_CHARS:
        raise InvalidParameter(
            where, "too long", f"{where}.image_url is over {JSON_IMAGE_URL_MAX_CHARS:,} characters."
        )
    data = edits.decode_data_url(url)
    if data is None:
        raise InvalidParameter(
            where,
            "not a data URL",
            f"{where}.image_url must be a data: URL with base64 content; the emulator does not "
            "fetch http(s) URLs.",
        )
    return data


def read_json_edit(body: object) -> EditForm:
    """OpenAI's JSON edit body (`EditImageBodyJsonParam`, O1): `images` 1-16 refs, `mask` one."""
    if not isinstance(body, dict):
        raise InvalidParameter("body", "not an object", "The request body must be a JSON object.")
    form = EditForm(image_field="images", json=True)
    images = body.get("images")
    if images is None:
        raise InvalidParameter("images", "missing", "images is required (1-16 image references).")
    if not isinstance(images, list) or not images:
        raise InvalidParameter("images", "not a list", "images must be a list of 1-16 references.")
    if len(images) > MAX_IMAGES:
        raise InvalidParameter(
            "images", "too many", f"images takes at most {MAX_IMAGES} images, not {len(images)}."
        )
    form.images = [_image_ref(ref, f"images[{i}]") for i, ref in enumerate(images)]
    mask = body.get("mask")
    if mask is not None:
        form.mask = _image_ref(mask, "mask")
    for key, value in body.items():
        if key in ("images", "mask"):
            continue
        if key == "stream" and value is False:
            continue
        form.fields[key] = value
    return form


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    image_bytes: int  # each gpt-image input must be smaller
    mask_bytes: int  # the mask must be smaller
    flux_image_bytes: int  # a FLUX input may be this large


@dataclass(frozen=True)
class GptImageEdit:
    """A gpt-image edit that passed every check; `request.size` is the output size."""

    request: ImageRequest
    images: tuple[bytes, ...]
    mask: bytes | None
    infos: tuple[InputInfo, ...]
    input_fidelity: str | None


def image_label(form: EditForm, index: int) -> tuple[str, str]:
    """(param, wording) for input ``index``: `image` / "image 2" (multipart), `images[1]` (JSON)."""
    if form.json:
        return f"images[{index}]", f"images[{index}]"
    label = f"image {index + 1}" if len(form.images) > 1 else "image"
    return "image", label


def _check_image(
    form: EditForm, index: int, data: bytes, formats: tuple[str, ...], limit: int, strict: bool
) -> InputInfo:
    """One input: its size against ``limit`` (``strict``: must be smaller), format, header."""
    field, label = image_label(form, index)
    if (len(data) >= limit) if strict else (len(data) > limit):
        bound = "under" if strict else "at most"
        raise InvalidParameter(
            field,
            "too large",
            f"{label} is {len(data):,} bytes; each image must be {bound} {limit:,} bytes.",
        )
    fmt = edits.sniff(data)
    if fmt not in formats:
        names = ", ".join(_FORMAT_NAMES[f] for f in formats)
        found = f"a {_FORMAT_NAMES[fmt]} image" if fmt else "not an image of a known format"
        raise InvalidParameter(
            field, "wrong format", f"{label} is {found}; accepted: {names} (by content)."
        )
    try:
        return edits.inspect(data)
    except UndecodableImage as exc:
        raise InvalidParameter(field, "undecodable", f"{label} {exc.reason}.") from exc


def _check_mask(mask: bytes, first: InputInfo, limit: int) -> None:
    if len(mask) >= limit:
        raise InvalidParameter(
            "mask", "too large", f"mask is {len(mask):,} bytes; it must be under {limit:,} bytes."
        )
    if edits.sniff(mask) != "png":
        raise InvalidParameter("mask", "not png", "mask must be a PNG image (by content).")
    try:
        info = edits.inspect(mask)
    except UndecodableImage as exc:
        raise InvalidParameter("mask", "undecodable", f"mask {exc.reason}.") from exc
    if not info.has_alpha:
        raise InvalidParameter(
            "mask",
            "no alpha",
            "mask has no alpha channel: the areas to edit must be fully transparent (alpha 0).",
        )
    if (info.width, info.height) != (first.width, first.height):
        raise InvalidParameter(
            "mask",
            "dimensions",
            f"mask is {info.width}x{info.height} but the image is {first.width}x{first.height}: "
            "they must have the same dimensions.",
        )


def _check_images(
    form: EditForm, formats: tuple[str, ...], limits: Limits
) -> tuple[InputInfo, ...]:
    field = form.image_field
    if not form.images:
        raise InvalidParameter(field, "missing", f"{field} is required: at least one image file.")
    if len(form.images) > MAX_IMAGES:
        raise InvalidParameter(
            field,
            "too many",
            f"{len(form.images)} images sent; at most {MAX_IMAGES} are accepted.",
        )
    infos = tuple(
        _check_image(form, i, data, formats, limits.image_bytes, strict=True)
        for i, data in enumerate(form.images)
    )
    if form.mask is not None:
        _check_mask(form.mask, infos[0], limits.mask_bytes)
    return infos


def validate_gpt_image_edit(
    form: EditForm, spec: ModelSpec, route: Route, limits: Limits
) -> GptImageEdit:
    """Check a gpt-image edit: the scalar fields as generations check them, then the files."""
    fields = dict(form.fields)
    fidelity = fields.pop("input_fidelity", None)
    if fidelity is not None:
        if spec.name == "gpt-image-1-mini":
            raise InvalidParameter(
                "input_fidelity",
                "not on mini",
                "input_fidelity is not supported by gpt-image-1-mini.",
            )
        if fidelity not in ("high", "low"):
            raise InvalidParameter("input_fidelity", "high or low", "input_fidelity: high or low.")
    if not form.json and "moderation" in fields:
        raise InvalidParameter(
            "moderation",
            "json only",
            "moderation is not a multipart field of images/edits (only of the JSON body).",
        )
    request = validate_request(fields, spec, route)
    infos = _check_images(form, _FORMATS[route], limits)
    size = fields.get("size")
    if size is None or size == "auto":
        width, height = edits.nearest_standard_size(infos[0].width, infos[0].height)
        request = dataclasses.replace(request, size=f"{width}x{height}", width=width, height=height)
    return GptImageEdit(request, tuple(form.images), form.mask, infos, fidelity)


@dataclass(frozen=True)
class KontextEdit:
    """FLUX.1-Kontext-pro on Foundry's Image API: one image, the output size resolved."""

    request: flux.FluxImageApiRequest
    image: bytes
    info: InputInfo


def validate_kontext_edit(form: EditForm, limits: Limits) -> KontextEdit:
    """The Image API's documented edit fields (A14): `image` (one), `prompt`, `n`, `size`."""
    if form.mask is not None:
        raise InvalidParameter(
            "mask", "no mask", f"mask is not supported by {flux.FLUX_KONTEXT_PRO} edits."
        )
    req = flux.validate_image_api(form.fields, flux.FLUX_KONTEXT_PRO)
    info = _check_kontext_image(form, limits)
    if form.fields.get("size") is None:  # the input's aspect at about 1 MP
        width, height = flux.kontext_size(info.width, info.height)
        req = dataclasses.replace(req, width=width, height=height)
    return KontextEdit(req, form.images[0], info)


def _check_kontext_image(form: EditForm, limits: Limits) -> InputInfo:
    if len(form.images) > 1:
        raise InvalidParameter(
            "image",
            "one image",
            f"{flux.FLUX_KONTEXT_PRO} edits take exactly one image, not {len(form.images)}.",
        )
    if not form.images:
        raise InvalidParameter("image", "missing", "image is required: one image file.")
    return _check_image(form, 0, form.images[0], ("png", "jpeg"), limits.flux_image_bytes, False)
