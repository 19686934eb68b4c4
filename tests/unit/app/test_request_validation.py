"""Every rule `POST /api/images` enforces before a job starts, and the field each 400 names."""

from __future__ import annotations

import json

import pytest

from shared.imaging.types import Family, Flavour
from shared.models import (
    CAPABILITIES,
    MAX_BODY_BYTES,
    ImageRequest,
    RequestError,
    parse_body,
    validate_request,
)
from shared.settings import load_settings

ENV = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "AZURE_OPENAI_ENDPOINT": "http://e",
    "IMAGE_REQUESTS_QUEUE": "image-requests",
}
SETTINGS = load_settings(ENV)


def check(body: object) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = parse_body(raw)
    return validate_request(request, SETTINGS.image_models, SETTINGS.image_default_model)


def refused(body: object) -> RequestError:
    with pytest.raises(RequestError) as info:
        check(body)
    return info.value


def test_minimal_request_uses_the_default_model():
    valid = check({"prompt": "a badger"})
    assert valid.deployment.name == "gpt-image-2"
    assert valid.deployment.family is Family.GPT_IMAGE_2
    assert valid.params.prompt == "a badger"
    assert valid.params.n == 1


def test_full_gpt_image_request_is_kept_as_given():
    valid = check(
        {
            "prompt": "a badger",
            "model": "gpt-image-1",
            "n": 3,
            "size": "1536x1024",
            "quality": "high",
            "output_format": "png",
            "background": "transparent",
            "user": "u-1",
        }
    )
    assert valid.deployment.family is Family.GPT_IMAGE
    assert valid.params.model_dump(exclude_none=True) == {
        "prompt": "a badger",
        "n": 3,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "png",
        "background": "transparent",
        "user": "u-1",
    }


def test_full_dalle3_request_keeps_its_style_and_quality():
    valid = check(
        {
            "prompt": "a badger",
            "model": "dall-e-3",
            "size": "1792x1024",
            "quality": "hd",
            "style": "natural",
            "user": "u-2",
        }
    )
    assert valid.deployment.family is Family.DALLE3
    assert valid.params.model_dump(exclude_none=True) == {
        "prompt": "a badger",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "user": "u-2",
    }


def test_dalle2_takes_a_size_and_several_images():
    valid = check({"prompt": "a badger", "model": "dall-e-2", "size": "512x512", "n": 10})
    assert (valid.params.size, valid.params.n) == ("512x512", 10)


def test_an_https_callback_url_is_accepted():
    request = parse_body(
        json.dumps({"prompt": "x", "callback_url": "https://h.example/cb?sig=1"}).encode()
    )
    assert request.callback_url == "https://h.example/cb?sig=1"


def test_dalle3_with_several_images_is_valid_it_fans_out():
    assert check({"prompt": "a badger", "model": "dall-e-3", "n": 4}).params.n == 4


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"prompt": "x", "colour": "red"}, "colour", "unknown field"),
        ({}, "prompt", "required"),
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": "   "}, "prompt", "empty"),
        ({"prompt": 5}, "prompt", "string"),
        ({"prompt": "x", "n": 0}, "n", "greater than or equal to 1"),
        ({"prompt": "x", "n": 11}, "n", "less than or equal to 10"),
        ({"prompt": "x", "n": "2"}, "n", "integer"),
        ({"prompt": "x", "n": True}, "n", "integer"),
        ({"prompt": "x", "model": "dall-e-9"}, "model", "unknown model"),
        ({"prompt": "x", "model": "dall-e-3", "size": "256x256"}, "size", "1792x1024"),
        ({"prompt": "x", "model": "dall-e-2", "size": "1792x1024"}, "size", "not available"),
        ({"prompt": "x", "model": "dall-e-3", "quality": "low"}, "quality", "standard, hd"),
        ({"prompt": "x", "model": "gpt-image-1", "quality": "hd"}, "quality", "low"),
        ({"prompt": "x", "model": "dall-e-2", "quality": "hd"}, "quality", "not support"),
        ({"prompt": "x", "model": "dall-e-3", "style": "gothic"}, "style", "vivid"),
        ({"prompt": "x", "model": "gpt-image-1", "style": "vivid"}, "style", "not support"),
        ({"prompt": "x", "model": "gpt-image-1", "output_format": "gif"}, "output_format", "png"),
        ({"prompt": "x", "model": "dall-e-3", "output_format": "png"}, "output_format", "not"),
        ({"prompt": "x", "model": "gpt-image-1", "background": "red"}, "background", "opaque"),
        (
            {
                "prompt": "x",
                "model": "gpt-image-1",
                "background": "transparent",
                "output_format": "jpeg",
            },
            "background",
            "png",
        ),
        ({"prompt": "x", "user": "u" * 300}, "user", "at most 256"),
        ({"prompt": "x", "callback_url": "http://example.com/hook"}, "callback_url", "https"),
        ({"prompt": "x", "callback_url": "not a url"}, "callback_url", "callback_url"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(body, field, words):
    err = refused(body)
    assert err.status == 400
    assert err.field == field
    assert words in err.message
    assert err.body() == {
        "error": {"code": "invalid_request", "message": err.message, "field": field}
    }


@pytest.mark.parametrize(
    ("model", "limit"), [("dall-e-2", 1000), ("dall-e-3", 4000), ("gpt-image-1", 32000)]
)
def test_prompt_length_limit_is_per_model(model, limit):
    assert check({"prompt": "a" * limit, "model": model}).params.prompt == "a" * limit
    if limit < 32000:
        err = refused({"prompt": "a" * (limit + 1), "model": model})
        assert err.field == "prompt"
        assert str(limit) in err.message
    else:
        assert refused({"prompt": "a" * (limit + 1), "model": model}).field == "prompt"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"prompt"', "JSON object"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(raw, words):
    err = refused(raw)
    assert err.status == 400
    assert words in err.message
    assert err.field is None


def test_oversized_body_is_refused_before_parsing():
    err = refused(b"{" + b" " * MAX_BODY_BYTES + b"}")
    assert err.status == 400
    assert err.code == "body_too_large"


def test_the_capability_table_and_request_schema_are_introspectable():
    schema = ImageRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["prompt"]
    assert set(schema["properties"]) == {
        "prompt",
        "model",
        "n",
        "size",
        "quality",
        "style",
        "output_format",
        "background",
        "output_compression",
        "moderation",
        "seed",
        "user",
        "callback_url",
    }
    assert CAPABILITIES[Family.DALLE3].sizes == ("1024x1024", "1792x1024", "1024x1792")
    assert CAPABILITIES[Family.GPT_IMAGE].returns == "b64_json"
    assert CAPABILITIES[Family.DALLE2].qualities is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": "x", "colour": "red"}, "unknown field 'colour'"),
        ({}, "prompt is required"),
        ({"prompt": "  "}, "prompt must not be empty"),
        # pydantic's words, after the field they are about
        ({"prompt": "x", "n": 0}, "n: Input should be greater than or equal to 1"),
        # a message that already starts with the field is not prefixed again
        (
            {"prompt": "x", "callback_url": "http://example.com/hook"},
            "callback_url must use https (plain http only for hosts in CALLBACK_ALLOW_HTTP_HOSTS)",
        ),
        (
            {"prompt": "x", "model": "dall-e-9"},
            f"unknown model 'dall-e-9'; available: {', '.join(sorted(SETTINGS.image_models))}",
        ),
        (
            {"prompt": "x", "model": "dall-e-2", "quality": "hd"},
            "dall-e-2 does not support quality",
        ),
        (
            {"prompt": "x", "model": "dall-e-2", "size": "1792x1024"},
            "size '1792x1024' is not available for dall-e-2; choose one of "
            "256x256, 512x512, 1024x1024",
        ),
        (
            {
                "prompt": "x",
                "model": "gpt-image-1",
                "background": "transparent",
                "output_format": "jpeg",
            },
            "a transparent background needs output_format png",
        ),
    ],
)
def test_each_refusal_says_what_is_wrong_in_one_sentence(body, message):
    assert refused(body).message == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the body is empty: send a JSON object with at least a prompt"),
        (b" \r\n", "the body is empty: send a JSON object with at least a prompt"),
        (b"not json", "the body is not valid JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'{"prompt": "caf\xe9"}', "the body is not UTF-8 text (send a JSON object)"),
        (b"[" * 100_000, "the body is nested too deeply to be a request"),
        (
            b'{"prompt": "x", "n": 1' + b"0" * 5000 + b"}",
            "the body holds a number too long to read",
        ),
    ],
)
def test_a_body_that_is_no_request_is_refused_saying_why(raw, message):
    assert refused(raw).message == message


def test_a_body_of_exactly_the_size_limit_is_read():
    head = b'{"prompt": "a badger"'
    body = head + b" " * (MAX_BODY_BYTES - len(head) - 1) + b"}"
    assert len(body) == MAX_BODY_BYTES
    assert check(body).params.prompt == "a badger"
    err = refused(body + b" ")
    assert (err.code, err.message) == (
        "body_too_large",
        f"the body is larger than {MAX_BODY_BYTES} bytes",
    )


def test_a_model_that_makes_fewer_images_refuses_more_naming_n(monkeypatch):
    fewer = CAPABILITIES[Family.DALLE2].model_copy(update={"n_max": 4})
    monkeypatch.setitem(CAPABILITIES, Family.DALLE2, fewer)

    assert check({"prompt": "x", "model": "dall-e-2", "n": 4}).params.n == 4
    err = refused({"prompt": "x", "model": "dall-e-2", "n": 5})
    assert (err.field, err.message) == ("n", "n must be between 1 and 4 for dall-e-2")


# ---- the GPT image line: free sizes, platforms, compression --------------------------------

PLATFORMS = load_settings(
    {
        **ENV,
        "OPENAI_API_KEY": "k",
        "IMAGE_MODELS": json.dumps(
            {
                "azure-2": {"deployment": "g2", "family": "gpt-image-2", "flavour": "azure-v1"},
                "openai-2": {
                    "deployment": "gpt-image-2",
                    "family": "gpt-image-2",
                    "flavour": "openai",
                },
                "openai-1": {
                    "deployment": "gpt-image-1",
                    "family": "gpt-image-1",
                    "flavour": "openai",
                },
                "azure-1": {
                    "deployment": "g1",
                    "family": "gpt-image",
                    "flavour": "azure-deployment",
                },
                "azure-1.5": {
                    "deployment": "g15",
                    "family": "gpt-image-1.5",
                    "flavour": "azure-deployment",
                },
            }
        ),
        "IMAGE_DEFAULT_MODEL": "azure-2",
    }
)


def on(model: str, **options: object):
    request = parse_body(json.dumps({"prompt": "a badger", "model": model, **options}).encode())
    return validate_request(request, PLATFORMS.image_models, PLATFORMS.image_default_model)


def refused_on(model: str, **options: object) -> RequestError:
    with pytest.raises(RequestError) as info:
        on(model, **options)
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize(
    ("size", "words"),
    [
        ("2050x1152", "multiples of 16"),  # width not a multiple of 16
        ("2048x1150", "multiples of 16"),  # height not a multiple of 16
        ("3856x1296", "edge over 3840"),  # long edge 3856 > 3840 (ratio 2.98, 5.0 MP)
        ("3072x1008", "3:1"),  # 3.05:1, 3.1 MP: only the ratio is broken
        ("960x672", "645,120 pixels"),  # 645,120 < 655,360
        ("3840x2176", "8,355,840 pixels"),  # > 8,294,400, edge and ratio fine
        ("big", "not WxH"),
    ],
)
def test_each_gpt_image_2_size_rule_broken_once_is_a_400_naming_size(size, words):
    err = refused_on("azure-2", size=size)
    assert err.field == "size"
    assert words in err.message
    assert "azure-2 takes 1024x1024" in err.message  # and what it would take instead


@pytest.mark.parametrize(
    "size",
    [
        "2048x1152",
        "3840x2160",
        "1024x640",
        "2160x3840",
        "1280x3840",
        "3840x1280",
        "1536x1024",
        "auto",
    ],
)
def test_free_sizes_that_keep_the_rules_are_kept(size):
    assert on("azure-2", size=size).params.size == size
    assert on("openai-2", size=size).params.size == size


def test_free_sizes_are_only_for_gpt_image_2():
    err = refused_on("azure-1.5", size="2048x1152")
    assert err.field == "size"
    assert "1536x1024" in err.message


@pytest.mark.parametrize("model", ["azure-2", "azure-1", "azure-1.5"])
def test_webp_and_moderation_are_refused_on_azure_flavours(model):
    webp = refused_on(model, output_format="webp")
    assert webp.field == "output_format"
    assert "png, jpeg" in webp.message
    moderation = refused_on(model, moderation="low")
    assert moderation.field == "moderation"
    assert "OpenAI" in moderation.message


@pytest.mark.parametrize("model", ["openai-2", "openai-1"])
def test_webp_and_moderation_are_accepted_on_openai(model):
    valid = on(model, output_format="webp", moderation="low", background="transparent")
    assert (valid.params.output_format, valid.params.moderation) == ("webp", "low")
    assert valid.params.background == "transparent"
    assert refused_on(model, moderation="high").field == "moderation"


@pytest.mark.parametrize(
    ("model", "options", "field", "words"),
    [
        ("azure-2", {"output_compression": 50}, "output_compression", "jpeg"),  # png default
        (
            "azure-2",
            {"output_compression": 50, "output_format": "png"},
            "output_compression",
            "jpeg",
        ),
        (
            "openai-2",
            {"output_compression": 50, "output_format": "png"},
            "output_compression",
            "webp",
        ),
        (
            "azure-2",
            {"output_compression": 101, "output_format": "jpeg"},
            "output_compression",
            "100",
        ),
        ("azure-2", {"output_compression": -1, "output_format": "jpeg"}, "output_compression", "0"),
        (
            "azure-2",
            {"output_compression": "50", "output_format": "jpeg"},
            "output_compression",
            "integer",
        ),
        ("azure-2", {"background": "transparent", "output_format": "jpeg"}, "background", "png"),
        (
            "openai-2",
            {"background": "transparent", "output_format": "jpeg"},
            "background",
            "png or webp",
        ),
    ],
)
def test_compression_and_transparency_need_the_right_format(model, options, field, words):
    err = refused_on(model, **options)
    assert err.field == field
    assert words in err.message


def test_compression_with_a_lossy_format_is_passed_on():
    assert on("azure-2", output_format="jpeg", output_compression=0).params.output_compression == 0
    webp = on("openai-2", output_format="webp", output_compression=70)
    assert webp.params.output_compression == 70


def test_dalle_models_take_none_of_the_new_options():
    assert refused({"prompt": "x", "model": "dall-e-3", "output_compression": 5}).field == (
        "output_compression"
    )
    assert refused({"prompt": "x", "model": "dall-e-3", "moderation": "low"}).field == "moderation"


def test_gpt_image_1_is_a_name_for_the_gpt_image_family():
    assert PLATFORMS.image_models["openai-1"].family is Family.GPT_IMAGE
    assert Family("gpt-image-1") is Family.GPT_IMAGE


def test_request_body_sends_the_new_options_only_to_the_gpt_image_line():
    from shared.imaging.base import request_body

    params = on(
        "openai-2",
        size="2048x1152",
        output_format="webp",
        output_compression=60,
        moderation="low",
        background="opaque",
    ).params
    for family in (Family.GPT_IMAGE_2, Family.GPT_IMAGE_1_5, Family.GPT_IMAGE_1_MINI):
        body = request_body(params, family, model="gpt-image-2")
        assert body["size"] == "2048x1152"
        assert (body["output_format"], body["output_compression"]) == ("webp", 60)
        assert (body["moderation"], body["background"]) == ("low", "opaque")
        assert "response_format" not in body
    bare = request_body(on("azure-2").params, Family.GPT_IMAGE_2)
    assert set(bare) == {"prompt", "n"}  # nothing asked, nothing sent: the service's defaults
    dalle = request_body(params, Family.DALLE3)
    assert not {"output_compression", "moderation", "output_format", "background"} & set(dalle)


# ---- FLUX: one image, free sizes per model, seed on the BFL routes ---------------------------

FLUX = load_settings(
    {
        **ENV,
        "IMAGE_MODELS": json.dumps(
            {
                "flux-1.1": {
                    "deployment": "FLUX-1.1-pro",
                    "family": "FLUX-1.1-pro",
                    "flavour": "azure-deployment",
                },
                "kontext": {
                    "deployment": "FLUX.1-Kontext-pro",
                    "family": "FLUX.1-Kontext-pro",
                    "flavour": "azure-deployment",
                },
                "bfl-1.1": {
                    "deployment": "flux-1.1-pro",
                    "family": "FLUX-1.1-pro",
                    "flavour": "bfl-foundry",
                },
                "bfl-kontext": {
                    "deployment": "flux.1-kontext-pro",
                    "family": "FLUX.1-Kontext-pro",
                    "flavour": "bfl-foundry",
                },
                "flux-2-pro": {
                    "deployment": "flux.2-pro",
                    "family": "FLUX.2-pro",
                    "flavour": "bfl-foundry",
                },
                "flux-2-flex": {
                    "deployment": "flux.2-flex",
                    "family": "FLUX.2-flex",
                    "flavour": "bfl-foundry",
                },
                "dall-e-3": {
                    "deployment": "dall-e-3",
                    "family": "dall-e-3",
                    "flavour": "azure-deployment",
                },
                "gpt-image-2": {
                    "deployment": "gpt-image-2",
                    "family": "gpt-image-2",
                    "flavour": "azure-deployment",
                },
            }
        ),
        "IMAGE_DEFAULT_MODEL": "flux-2-pro",
    }
)


def flux(model: str, **options: object):
    request = parse_body(json.dumps({"prompt": "a badger", "model": model, **options}).encode())
    return validate_request(request, FLUX.image_models, FLUX.image_default_model)


def flux_refused(model: str, **options: object) -> RequestError:
    with pytest.raises(RequestError) as info:
        flux(model, **options)
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize(
    ("model", "size", "words"),
    [
        ("bfl-1.1", "1000x1024", "multiples of 32"),
        ("bfl-1.1", "224x1024", "edge under 256"),
        ("flux-1.1", "1472x1024", "edge over 1440"),
        ("bfl-kontext", "1000x1024", "multiples of 32"),
        ("kontext", "1056x1024", "1,081,344 pixels; at most 1,048,576"),
        ("flux-2-pro", "1000x1000", "multiples of 16"),
        ("flux-2-pro", "48x1024", "edge under 64"),
        ("flux-2-flex", "2064x2048", "4,227,072 pixels; at most 4,194,304"),
        ("flux-2-flex", "big", "is not WxH"),
    ],
)
def test_each_flux_size_rule_broken_once_is_a_400_naming_size(model, size, words):
    err = flux_refused(model, size=size)
    assert err.field == "size"
    assert words in err.message
    assert model in err.message


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("bfl-1.1", "1440x256"),
        ("flux-1.1", "256x1440"),
        ("kontext", "1024x1024"),  # exactly 1 MP
        ("bfl-kontext", "1344x768"),
        ("flux-2-pro", "2048x2048"),  # exactly 4 MP
        ("flux-2-flex", "64x64"),
    ],
)
def test_flux_sizes_that_keep_their_models_rule_are_kept(model, size):
    assert flux(model, size=size).params.size == size


def test_a_flux_job_names_its_default_size_and_format():
    on_bfl = flux("flux-2-pro").params
    assert (on_bfl.size, on_bfl.output_format) == ("1024x1024", "png")
    on_image_api = flux("flux-1.1").params
    assert (on_image_api.size, on_image_api.output_format) == ("1024x1024", None)


@pytest.mark.parametrize("model", ["flux-1.1", "bfl-kontext", "flux-2-pro", "flux-2-flex"])
def test_flux_makes_one_image_per_call_n_2_names_n(model):
    err = flux_refused(model, n=2)
    assert (err.field, err.message) == (
        "n",
        f"n must be 1 for {model}: it makes one image per call",
    )


def test_seed_and_format_are_taken_on_the_bfl_route():
    params = flux("flux-2-flex", seed=42, output_format="jpeg", size="1536x1024").params
    assert (params.seed, params.output_format, params.size) == (42, "jpeg", "1536x1024")
    assert flux("bfl-1.1", seed=0).params.seed == 0


@pytest.mark.parametrize("field", ["seed", "output_format"])
def test_bfl_only_options_are_refused_on_the_flux_image_api_naming_them(field):
    value: object = 7 if field == "seed" else "png"
    err = flux_refused("flux-1.1", **{field: value})
    assert err.field == field
    assert "on this platform (the BFL routes only" in err.message


@pytest.mark.parametrize("model", ["dall-e-3", "gpt-image-2"])
def test_seed_is_refused_on_models_other_than_flux(model):
    err = flux_refused(model, seed=1)
    assert (err.field, err.message) == ("seed", f"{model} does not support seed (FLUX models only)")


@pytest.mark.parametrize("seed", [-1, "5", 1.5, True])
def test_a_seed_must_be_a_non_negative_integer(seed):
    err = flux_refused("flux-2-pro", seed=seed)
    assert err.field == "seed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("style", "vivid"),
        ("quality", "hd"),
        ("background", "opaque"),
        ("moderation", "auto"),
        ("output_format", "webp"),
    ],
)
def test_openai_style_options_are_refused_on_flux(field, value):
    err = flux_refused("flux-2-pro", **{field: value})
    assert err.field == field
    compression = flux_refused("bfl-kontext", output_compression=50, output_format="jpeg")
    assert compression.field == "output_compression"


def test_flux_returns_urls_on_the_image_api_and_base64_on_the_bfl_route():
    from shared.models import capabilities_for

    assert capabilities_for(Family.FLUX_1_1_PRO, Flavour.AZURE_DEPLOYMENT).returns == "url"
    assert capabilities_for(Family.FLUX_1_1_PRO, Flavour.BFL_FOUNDRY).returns == "b64_json"
    assert capabilities_for(Family.FLUX_2_PRO, Flavour.BFL).returns == "url"


def test_request_body_sends_flux_only_prompt_n_size_and_format():
    from shared.imaging.base import request_body

    params = flux("flux-1.1", size="1440x256").params
    body = request_body(params, Family.FLUX_1_1_PRO)
    assert body == {"prompt": "a badger", "n": 1, "size": "1440x256"}
    asked = flux("flux-2-pro", seed=3, output_format="jpeg").params
    body = request_body(asked.model_copy(update={"user": "u"}), Family.FLUX_1_KONTEXT_PRO)
    assert body == {"prompt": "a badger", "n": 1, "size": "1024x1024", "output_format": "jpeg"}
