"""`POST /api/images/edits` before anything is staged: how each body form is read into input
references, the field each 400 names, each model's edit rules on each platform, and the digest an
Idempotency-Key repeat must match. The inputs' bytes are checked later, by the stager."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.edit_requests import (
    MAX_EDIT_BODY_BYTES,
    InputRef,
    ParsedEdit,
    UploadedFile,
    parse_edit_form,
    parse_edit_json,
    validate_edit,
)
from shared.imaging.types import Deployment, Family, Flavour
from shared.models import RequestError, ValidatedRequest, parse_body, validate_request

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(40, 80))
MASK = b"\x89PNG\r\n\x1a\nmask"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def deployment(name: str, family: Family, flavour: Flavour) -> Deployment:
    versions = {Flavour.AZURE_DEPLOYMENT: "2025-04-01-preview", Flavour.AZURE_DALLE2_ASYNC: "x"}
    return Deployment(
        name=name,
        deployment=name,
        family=family,
        flavour=flavour,
        endpoint="http://e",
        api_version=versions.get(flavour),
    )


MODELS: dict[str, Deployment] = {
    d.name: d
    for d in (
        deployment("g2", Family.GPT_IMAGE_2, Flavour.AZURE_DEPLOYMENT),
        deployment("o2", Family.GPT_IMAGE_2, Flavour.OPENAI),
        deployment("g15", Family.GPT_IMAGE_1_5, Flavour.AZURE_V1),
        deployment("mini", Family.GPT_IMAGE_1_MINI, Flavour.AZURE_V1),
        # a gpt-image model configured on the DALL-E 2 route, which has no edits
        deployment("old", Family.GPT_IMAGE_2, Flavour.AZURE_DALLE2_ASYNC),
        deployment("d2", Family.DALLE2, Flavour.AZURE_DEPLOYMENT),
        deployment("d3", Family.DALLE3, Flavour.AZURE_DEPLOYMENT),
        deployment("f11", Family.FLUX_1_1_PRO, Flavour.BFL_FOUNDRY),
        deployment("ctx", Family.FLUX_1_KONTEXT_PRO, Flavour.AZURE_DEPLOYMENT),
        deployment("ctx-foundry", Family.FLUX_1_KONTEXT_PRO, Flavour.BFL_FOUNDRY),
        deployment("ctx-bfl", Family.FLUX_1_KONTEXT_PRO, Flavour.BFL),
        deployment("f2", Family.FLUX_2_PRO, Flavour.BFL_FOUNDRY),
        deployment("f2-bfl", Family.FLUX_2_PRO, Flavour.BFL),
        deployment("flex-foundry", Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY),
        deployment("flex-bfl", Family.FLUX_2_FLEX, Flavour.BFL),
    )
}
DEFAULT = "g2"


def raw(body: object) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def parse(body: object) -> ParsedEdit:
    return parse_edit_json(raw(body))


def parse_refused(body: object) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse(body)
    assert info.value.status == 400
    return info.value


def form(
    fields: list[tuple[str, str]], files: list[UploadedFile], body_bytes: int = 1000
) -> ParsedEdit:
    return parse_edit_form(fields, files, body_bytes)


def form_refused(
    fields: list[tuple[str, str]], files: list[UploadedFile], body_bytes: int = 1000
) -> RequestError:
    with pytest.raises(RequestError) as info:
        form(fields, files, body_bytes)
    assert info.value.status == 400
    return info.value


def edit_body(model: str | None, images: int = 1, mask: bool = False, **options: Any) -> dict:
    body: dict[str, Any] = {
        "prompt": "make it winter",
        "images": [{"blob": f"in/{i}.png"} for i in range(images)],
        **options,
    }
    if model is not None:
        body["model"] = model
    if mask:
        body["mask"] = {"blob": "in/mask.png"}
    return body


def edit(model: str | None, images: int = 1, mask: bool = False, **options: Any):
    return validate_edit(parse(edit_body(model, images, mask, **options)), MODELS, DEFAULT)


def edit_refused(model: str, images: int = 1, mask: bool = False, **options: Any) -> RequestError:
    with pytest.raises(RequestError) as info:
        edit(model, images, mask, **options)
    assert info.value.status == 400
    return info.value


# ---- a JSON body: the references ---------------------------------------------------------------


def test_each_kind_of_reference_is_read_in_the_order_sent():
    parsed = parse(
        {
            "prompt": "make it winter",
            "images": [
                {"job": "job-1"},
                {"job": "job-2", "index": 3},
                {"blob": "uploads/cat.png"},
                {"url": "https://images.example/dog.jpg"},
                {"b64_json": b64(PNG)},
                {"b64_json": f"data:image/jpeg;base64,{b64(JPEG)}"},
            ],
            "mask": {"b64_json": b64(MASK)},
        }
    )
    assert parsed.images == [
        InputRef(field="images[0]", kind="job", job="job-1", index=0),  # index defaults to 0
        InputRef(field="images[1]", kind="job", job="job-2", index=3),
        InputRef(field="images[2]", kind="blob", blob="uploads/cat.png"),
        InputRef(field="images[3]", kind="url", url="https://images.example/dog.jpg"),
        InputRef(field="images[4]", kind="b64_json", data=PNG),
        InputRef(field="images[5]", kind="b64_json", data=JPEG),
    ]
    assert parsed.mask == InputRef(field="mask", kind="b64_json", data=MASK)
    assert parsed.request.prompt == "make it winter"


def test_without_a_mask_there_is_none_and_a_mask_may_be_any_kind_of_reference():
    assert parse(edit_body("g2")).mask is None
    parsed = parse({**edit_body("g2"), "mask": {"job": "job-1", "index": 1}})
    assert parsed.mask == InputRef(field="mask", kind="job", job="job-1", index=1)


@pytest.mark.parametrize(
    "prefix",
    [
        "data:image/png;base64,",
        "DATA:IMAGE/PNG;BASE64,",
        "data:image/png;name=cat.png;base64,",  # Power Apps may add parameters
        "data:;base64,",
        "",
    ],
)
def test_inline_base64_is_read_with_or_without_a_data_url_prefix(prefix):
    parsed = parse({"prompt": "x", "images": [{"b64_json": prefix + b64(PNG)}]})
    assert parsed.images[0].data == PNG


@pytest.mark.parametrize(
    "ref",
    [
        {},
        {"job": "job-1", "blob": "b.png"},
        {"url": "https://images.example/a.png", "b64_json": b64(PNG)},
        {"job": "job-1", "blob": "b.png", "url": "https://images.example/a.png"},
        {"index": 0},
    ],
)
def test_an_image_must_be_exactly_one_kind_of_reference(ref):
    err = parse_refused({"prompt": "x", "images": [ref]})
    assert (err.field, err.message) == (
        "images[0]",
        "images[0]: give exactly one of job, blob, url and b64_json",
    )


def test_the_reference_at_fault_is_named_by_its_position_and_the_mask_as_mask():
    err = parse_refused({"prompt": "x", "images": [{"blob": "a"}, {"blob": "b", "url": "u"}]})
    assert err.field == "images[1]"
    err = parse_refused({**edit_body("g2"), "mask": {"blob": "m", "job": "j"}})
    assert (err.field, err.message) == (
        "mask",
        "mask: give exactly one of job, blob, url and b64_json",
    )


@pytest.mark.parametrize(
    "ref",
    [
        {"blob": "b.png", "index": 1},
        {"url": "https://images.example/a.png", "index": 0},
        {"b64_json": b64(PNG), "index": 2},
    ],
)
def test_an_index_goes_with_a_job_only(ref):
    err = parse_refused({"prompt": "x", "images": [ref]})
    assert (err.field, err.message) == ("images[0]", "images[0]: index goes with job only")


@pytest.mark.parametrize(
    ("index", "words"),
    [(10, "less than or equal to 9"), (-1, "greater than or equal to 0"), ("0", "integer")],
)
def test_an_index_is_a_whole_number_below_ten(index, words):
    err = parse_refused({"prompt": "x", "images": [{"job": "j", "index": index}]})
    assert err.field == "images[0].index"
    assert words in err.message


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        "iVBORw0KGgo",  # missing padding
        "data:image/png;base64,@@@@",
        "data:image/png,iVBORw0KGgo=",  # a data: URL that is not base64
        "iVBO Rw0K Ggo=",
    ],
)
def test_inline_data_that_is_not_base64_is_refused_naming_it(value):
    err = parse_refused({"prompt": "x", "images": [{"blob": "a"}, {"b64_json": value}]})
    assert (err.field, err.message) == (
        "images[1].b64_json",
        "images[1].b64_json is not valid base64 (nor a data: URL of it)",
    )


def test_an_inline_mask_that_is_not_base64_names_the_mask():
    err = parse_refused({**edit_body("g2"), "mask": {"b64_json": "###"}})
    assert err.field == "mask.b64_json"


def test_a_data_url_with_nothing_in_it_is_refused_as_empty():
    err = parse_refused({"prompt": "x", "images": [{"b64_json": "data:image/png;base64,"}]})
    assert (err.field, err.message) == ("images[0].b64_json", "images[0].b64_json is empty")


@pytest.mark.parametrize("body", [{"prompt": "x"}, {"prompt": "x", "images": []}])
def test_an_edit_needs_at_least_one_image(body):
    err = parse_refused(body)
    assert (err.field, err.message) == ("images", "images is required: at least one image to edit")


def test_at_most_sixteen_images_are_read():
    assert len(parse(edit_body("g2", images=16)).images) == 16
    err = parse_refused(edit_body("g2", images=17))
    assert err.field == "images"
    assert "at most 16" in err.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**edit_body("g2"), "colour": "red"}, "colour"),
        ({**edit_body("g2"), "style": "vivid"}, "style"),  # a generation's option, not an edit's
        ({**edit_body("g2"), "moderation": "low"}, "moderation"),
        ({"prompt": "x", "images": [{"blob": "a", "name": "cat"}]}, "images[0].name"),
        ({"prompt": "x", "images": [{"image_url": "https://h/a.png"}]}, "images[0].image_url"),
        ({**edit_body("g2"), "mask": {"file_id": "file-1"}}, "mask.file_id"),
    ],
)
def test_an_unknown_field_is_refused_naming_it(body, field):
    err = parse_refused(body)
    assert (err.field, err.message) == (field, f"unknown field {field!r}")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"images": [{"blob": "a"}]}, "prompt", "prompt is required"),
        ({"prompt": "  ", "images": [{"blob": "a"}]}, "prompt", "prompt must not be empty"),
        ({**edit_body("g2"), "n": "2"}, "n", "integer"),
        ({**edit_body("g2"), "n": 11}, "n", "less than or equal to 10"),
        ({"prompt": "x", "images": {"blob": "a"}}, "images", "list"),
        ({"prompt": "x", "images": ["a.png"]}, "images[0]", "must be a JSON object"),
        ({"prompt": "x", "images": [{"job": ""}]}, "images[0].job", "at least 1 character"),
    ],
)
def test_a_badly_shaped_field_is_refused_naming_it(body, field, words):
    err = parse_refused(body)
    assert err.field == field
    assert words in err.message


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    err = parse_refused(b" " * (MAX_EDIT_BODY_BYTES + 1))
    assert (err.field, err.code) == ("body", "body_too_large")
    assert "send large images by url or blob reference" in err.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the body is empty: send a prompt and images"),
        (b" \n ", "the body is empty: send a prompt and images"),
        (b"[]", "the body must be a JSON object"),
        (b'"make it winter"', "the body must be a JSON object"),
        (b"null", "the body must be a JSON object"),
    ],
)
def test_a_body_that_is_no_json_object_is_refused_naming_the_body(body, message):
    err = parse_refused(body)
    assert (err.field, err.message) == ("body", message)


@pytest.mark.parametrize("body", [b"{", b"prompt=make+it+winter", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_refused_naming_the_body(body):
    assert parse_refused(body).field == "body"


def test_a_body_that_is_not_json_is_still_a_400():
    err = parse_refused(b"{")
    assert (err.code, err.message) == ("invalid_request", "the body is not valid JSON")


# ---- a multipart body (OpenAI's edits form) ---------------------------------------------------

PROMPT = ("prompt", "make it winter")


def test_image_and_image_brackets_parts_are_the_images_in_the_order_sent():
    parsed = form(
        [PROMPT, ("model", "o2")],
        [
            UploadedFile("image", PNG),
            UploadedFile("mask", MASK),
            UploadedFile("image[]", JPEG),
            UploadedFile("image", b"third"),
        ],
    )
    assert parsed.images == [
        InputRef(field="images[0]", kind="upload", data=PNG),
        InputRef(field="images[1]", kind="upload", data=JPEG),
        InputRef(field="images[2]", kind="upload", data=b"third"),
    ]
    assert parsed.mask == InputRef(field="mask", kind="upload", data=MASK)
    assert (parsed.request.prompt, parsed.request.model) == ("make it winter", "o2")


def test_a_form_without_a_mask_has_none():
    assert form([PROMPT], [UploadedFile("image", PNG)]).mask is None


def test_whole_numbers_are_read_from_their_text_fields():
    parsed = form(
        [PROMPT, ("n", "2"), ("output_compression", " 50 "), ("seed", "7")],
        [UploadedFile("image", PNG)],
    )
    request = parsed.request
    assert (request.n, request.output_compression, request.seed) == (2, 50, 7)
    # and a form's text options go on as a JSON body's do
    parsed = form(
        [PROMPT, ("model", "o2"), ("n", "2"), ("output_format", "webp")],
        [UploadedFile("image", PNG)],
    )
    valid = validate_edit(parsed, MODELS, DEFAULT)
    assert (valid.params.n, valid.params.output_format) == (2, "webp")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", "two"),
        ("n", "2.0"),
        ("n", "-1"),
        ("n", ""),
        ("seed", "0x10"),
        ("output_compression", "high"),
    ],
)
def test_a_number_field_that_is_no_whole_number_is_refused_naming_it(field, value):
    err = form_refused([PROMPT, (field, value)], [UploadedFile("image", PNG)])
    assert (err.field, err.message) == (field, f"{field}: Input should be a valid integer")


def test_a_number_field_out_of_range_is_refused_naming_it():
    err = form_refused([PROMPT, ("n", "11")], [UploadedFile("image", PNG)])
    assert (err.field, err.message) == ("n", "n: Input should be less than or equal to 10")


def test_a_number_field_too_long_to_read_is_refused_naming_it():
    err = form_refused([PROMPT, ("n", "9" * 5000)], [UploadedFile("image", PNG)])
    assert err.field == "n"


def test_a_non_ascii_digit_is_not_read_as_a_number():
    err = form_refused([PROMPT, ("n", "\u0662")], [UploadedFile("image", PNG)])
    assert err.field == "n"


@pytest.mark.parametrize("field", ["n", "prompt", "model", "size"])
def test_a_field_sent_twice_is_refused_naming_it(field):
    err = form_refused(
        [PROMPT, ("n", "1"), ("model", "g2"), ("size", "auto"), (field, "1")],
        [UploadedFile("image", PNG)],
    )
    assert (err.field, err.message) == (field, f"{field} is given twice")


@pytest.mark.parametrize("field", ["image", "image[]", "mask", "images"])
def test_an_image_sent_as_a_text_field_is_refused_naming_it(field):
    err = form_refused([PROMPT, (field, "cat.png")], [UploadedFile("image", PNG)])
    assert (err.field, err.message) == (field, f"{field} must be a file part, not a text field")


@pytest.mark.parametrize("name", ["photo", "images", "image[0]", "prompt"])
def test_an_unknown_file_part_is_refused_naming_it(name):
    err = form_refused([PROMPT], [UploadedFile("image", PNG), UploadedFile(name, JPEG)])
    assert (err.field, err.message) == (name, f"unknown file part {name!r}")


def test_an_unknown_text_field_is_refused_naming_it():
    err = form_refused([PROMPT, ("colour", "red")], [UploadedFile("image", PNG)])
    assert (err.field, err.message) == ("colour", "unknown field 'colour'")


def test_an_empty_file_is_refused_naming_its_position():
    err = form_refused([PROMPT], [UploadedFile("image", PNG), UploadedFile("image[]", b"")])
    assert (err.field, err.message) == ("images[1]", "images[1] is an empty file")
    err = form_refused([PROMPT], [UploadedFile("image", PNG), UploadedFile("mask", b"")])
    assert (err.field, err.message) == ("mask", "mask is an empty file")


@pytest.mark.parametrize("files", [[], [UploadedFile("mask", MASK)]])
def test_a_form_without_an_image_part_is_refused_naming_images(files):
    err = form_refused([PROMPT], files)
    assert (err.field, err.message) == (
        "images",
        "image is required: at least one image part to edit",
    )


def test_a_form_takes_at_most_sixteen_images_and_one_mask():
    assert len(form([PROMPT], [UploadedFile("image", PNG)] * 16).images) == 16
    err = form_refused([PROMPT], [UploadedFile("image[]", PNG)] * 17)
    assert (err.field, err.message) == ("images", "images: at most 16 images per edit (got 17)")
    err = form_refused(
        [PROMPT],
        [UploadedFile("image", PNG), UploadedFile("mask", MASK), UploadedFile("mask", MASK)],
    )
    assert (err.field, err.message) == ("mask", "mask is given twice")


def test_a_form_over_the_limit_is_refused_naming_the_body():
    files = [UploadedFile("image", PNG)]
    assert form([PROMPT], files, MAX_EDIT_BODY_BYTES).images
    err = form_refused([PROMPT], files, MAX_EDIT_BODY_BYTES + 1)
    assert (err.field, err.code) == ("body", "body_too_large")


def test_a_form_without_a_prompt_is_refused_naming_prompt():
    err = form_refused([("model", "g2")], [UploadedFile("image", PNG)])
    assert (err.field, err.message) == ("prompt", "prompt is required")


# ---- validate_edit: each model's edit rules on its platform -----------------------------------


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("d3", "d3 cannot edit images"),
        ("d2", "d2 cannot edit images"),
        ("f11", "f11 cannot edit images"),
        # the model edits elsewhere: the 400 says it is the platform that lacks edits
        ("old", "old cannot edit images on flavour azure-dalle2-async"),
    ],
)
def test_a_model_that_cannot_edit_here_is_refused_naming_model(model, message):
    err = edit_refused(model)
    assert (err.field, err.message) == ("model", message)


@pytest.mark.parametrize(
    ("model", "most"),
    [
        ("ctx", 1),
        ("ctx-foundry", 1),
        ("ctx-bfl", 1),
        ("f2", 8),
        ("f2-bfl", 8),
        ("flex-foundry", 10),  # FLUX.2-flex: 10 on Foundry (A14)
        ("flex-bfl", 8),  # 8 in BFL's own API reference (B4)
    ],
)
def test_each_model_takes_as_many_images_as_its_platform_allows(model, most):
    assert edit(model, images=most).deployment is MODELS[model]
    err = edit_refused(model, images=most + 1)
    assert (err.field, err.message) == (
        f"images[{most}]",
        f"{model} takes at most {most} image(s) per edit (got {most + 1})",
    )


@pytest.mark.parametrize("model", ["g2", "o2", "g15", "mini"])
def test_the_gpt_image_line_takes_sixteen_images_and_a_mask(model):
    valid = edit(model, images=16, mask=True)
    assert valid.deployment is MODELS[model]


@pytest.mark.parametrize("model", ["ctx", "ctx-bfl", "f2", "flex-foundry"])
def test_a_mask_is_refused_on_flux(model):
    err = edit_refused(model, mask=True)
    assert (err.field, err.message) == ("mask", f"{model} does not take a mask")


@pytest.mark.parametrize("model", ["mini", "f2", "ctx"])
def test_input_fidelity_is_refused_where_the_model_lacks_it(model):
    err = edit_refused(model, input_fidelity="high")
    assert (err.field, err.message) == (
        "input_fidelity",
        f"{model} does not support input_fidelity",
    )


@pytest.mark.parametrize("value", ["medium", "HIGH", "auto"])
def test_input_fidelity_is_high_or_low(value):
    err = edit_refused("g15", input_fidelity=value)
    assert (err.field, err.message) == (
        "input_fidelity",
        f"input_fidelity {value!r} is not one of high, low",
    )


@pytest.mark.parametrize(("model", "value"), [("g15", "high"), ("g2", "low"), ("o2", "high")])
def test_input_fidelity_is_passed_on(model, value):
    assert edit(model, input_fidelity=value).params.input_fidelity == value


def test_a_flux_edit_gets_no_default_size_but_a_generation_still_does():
    on_bfl = edit("f2")
    assert (on_bfl.params.size, on_bfl.params.output_format) == (None, "png")
    image_api = edit("ctx")  # no output_format on the Image API
    assert (image_api.params.size, image_api.params.output_format) == (None, None)
    assert edit("f2", size="1024x768").params.size == "1024x768"  # one asked for is kept
    generation = validate_request(
        parse_body(b'{"prompt": "a badger", "model": "f2"}'), MODELS, DEFAULT
    )
    assert (generation.params.size, generation.params.output_format) == ("1024x1024", "png")


@pytest.mark.parametrize(
    ("model", "options", "field", "message"),
    [
        ("f2", {"quality": "high"}, "quality", "f2 does not support quality"),
        ("f2", {"n": 2}, "n", "n must be 1 for f2: it makes one image per call"),
        (
            "f2",
            {"size": "1000x1000"},
            "size",
            "size '1000x1000' needs both edges to be multiples of 16; f2 takes 1024x1024 or any "
            "WxH with both edges multiples of 16, each edge at least 64 and at most 4,194,304 "
            "pixels in total",
        ),
        (
            "g2",
            {"background": "transparent", "output_format": "jpeg"},
            "background",
            "a transparent background needs output_format png",
        ),
        (
            "g2",
            {"output_format": "webp"},
            "output_format",
            "output_format 'webp' is not available for g2 (webp only on OpenAI's API); "
            "choose one of png, jpeg",
        ),
        (
            "g2",
            {"output_compression": 50},
            "output_compression",
            "output_compression needs output_format jpeg (the format is png)",
        ),
        ("g2", {"seed": 7}, "seed", "g2 does not support seed (FLUX models only)"),
        (
            "ctx",
            {"seed": 7},
            "seed",
            "ctx does not support seed on this platform (the BFL routes only: flavour "
            "bfl-foundry or bfl)",
        ),
        (
            "mini",
            {"quality": "hd"},
            "quality",
            "quality 'hd' is not available for mini; choose one of low, medium, high, auto",
        ),
    ],
)
def test_the_generation_option_rules_still_apply_to_an_edit(model, options, field, message):
    err = edit_refused(model, **options)
    assert (err.field, err.message) == (field, message)


def test_an_unknown_model_is_refused_and_no_model_means_the_default():
    err = edit_refused("dall-e-9")
    assert err.field == "model"
    assert err.message.startswith("unknown model 'dall-e-9'; available: ")
    assert edit(None).deployment is MODELS[DEFAULT]


def test_what_a_valid_edit_passes_on():
    valid = edit(
        "g2",
        images=2,
        mask=True,
        n=3,
        size="2048x1152",
        quality="high",
        output_format="jpeg",
        output_compression=80,
        background="opaque",
        input_fidelity="high",
        user="u-1",
    )
    assert isinstance(valid, ValidatedRequest)
    assert valid.deployment is MODELS["g2"]
    assert valid.params.model_dump(exclude_none=True) == {
        "prompt": "make it winter",
        "n": 3,
        "size": "2048x1152",
        "quality": "high",
        "output_format": "jpeg",
        "background": "opaque",
        "output_compression": 80,
        "input_fidelity": "high",
        "user": "u-1",
    }
    flux = edit("flex-foundry", images=10, seed=42, output_format="jpeg")
    assert flux.params.model_dump(exclude_none=True) == {
        "prompt": "make it winter",
        "n": 1,
        "output_format": "jpeg",
        "seed": 42,
    }


# ---- the digest an Idempotency-Key repeat must match ------------------------------------------


def digest(images: list[dict], mask: dict | None = None) -> str:
    body: dict[str, Any] = {"prompt": "x", "images": images}
    if mask is not None:
        body["mask"] = mask
    return parse(body).digest()


BASE = [{"b64_json": b64(PNG)}, {"job": "job-1"}, {"url": "https://images.example/a.png"}]


def test_the_same_references_give_the_same_digest():
    assert digest(BASE) == digest([dict(r) for r in BASE])
    assert digest(BASE, {"blob": "m.png"}) == digest(BASE, {"blob": "m.png"})
    # the same image sent another way round is the same request
    assert digest([{"job": "job-1"}]) == digest([{"job": "job-1", "index": 0}])
    assert digest([{"b64_json": b64(PNG)}]) == digest(
        [{"b64_json": f"data:image/png;base64,{b64(PNG)}"}]
    )
    # the options are not part of it: only the inputs are
    assert parse({**edit_body("g2"), "n": 2}).digest() == parse(edit_body("g2")).digest()


@pytest.mark.parametrize(
    ("images", "mask"),
    [
        ([{"b64_json": b64(PNG[:-1] + b"\x00")}, *BASE[1:]], None),  # one byte differs
        ([{"b64_json": b64(PNG + b"\x00")}, *BASE[1:]], None),
        ([BASE[1], BASE[0], BASE[2]], None),  # the same images in another order
        ([*BASE[:2], {"url": "https://images.example/b.png"}], None),
        ([BASE[0], {"job": "job-1", "index": 1}, BASE[2]], None),
        ([BASE[0], {"job": "job-2"}, BASE[2]], None),
        ([BASE[0], {"blob": "job-1"}, BASE[2]], None),  # same text, another kind
        (BASE, {"b64_json": b64(MASK)}),  # a mask added
        (BASE[:2], None),  # an image fewer
        (BASE[:2], BASE[2]),  # the last image sent as the mask instead
    ],
)
def test_a_change_to_the_inputs_changes_the_digest(images, mask):
    assert digest(images, mask) != digest(BASE)


def test_a_change_to_the_mask_changes_the_digest():
    with_mask = digest(BASE, {"b64_json": b64(MASK)})
    assert digest(BASE, {"b64_json": b64(MASK + b"\x00")}) != with_mask
    assert digest(BASE, {"blob": "m.png"}) != with_mask
    assert digest(BASE) != with_mask


def test_a_forms_digest_follows_its_files_bytes_and_order():
    def of(*files: UploadedFile) -> str:
        return form([PROMPT], list(files)).digest()

    a, b, m = UploadedFile("image", PNG), UploadedFile("image[]", JPEG), UploadedFile("mask", MASK)
    assert of(a, b, m) == of(UploadedFile("image[]", PNG), UploadedFile("image", JPEG), m)
    assert of(a, b, m) != of(b, a, m)
    assert of(a, b, m) != of(a, b)
    assert of(a, b, m) != of(a, UploadedFile("image", JPEG[:-1]), m)
    assert of(a, b, m) != of(a, b, UploadedFile("mask", MASK + b"\x00"))


@pytest.mark.parametrize("ref", ["abc", 3, ["x"]])
def test_a_reference_that_is_not_an_object_says_so_without_class_names(ref):
    err = parse_refused(json.dumps({"prompt": "x", "images": [ref]}).encode())
    assert err.field == "images[0]"
    assert err.message == "images[0] must be a JSON object"


def test_a_list_field_sent_as_text_is_refused_as_not_a_list():
    err = parse_refused(json.dumps({"prompt": "x", "images": "a" * 40}).encode())
    assert err.field == "images"
    assert "list" in err.message


def test_a_url_signed_afresh_is_the_same_input_but_another_version_is_not():
    def digest(url: str) -> str:
        return parse_edit_json(
            json.dumps({"prompt": "x", "images": [{"url": url}]}).encode()
        ).digest()

    base = "https://a.blob.core.windows.net/images/cat.png"
    assert digest(f"{base}?sv=2025&se=1&sig=AAA") == digest(f"{base}?sig=BBB&se=2&sv=2025")
    assert digest(f"{base}?versionid=1&sig=A") != digest(f"{base}?versionid=2&sig=A")
    assert digest(base) != digest("https://a.blob.core.windows.net/images/dog.png")
