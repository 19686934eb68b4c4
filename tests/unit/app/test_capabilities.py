"""What each model takes on each platform: the exact 400 for every size rule at its boundary, the
options and seed rules, what a valid request passes on, and what `GET /api/models` says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.imaging.types import Family, Flavour
from shared.models import (
    CAPABILITIES,
    FLUX_1_1_PRO_SIZES,
    FLUX_1_FLAVOURS,
    FLUX_2_FLAVOURS,
    FLUX_2_SIZES,
    FLUX_KONTEXT_SIZES,
    GPT_IMAGE_2_SIZES,
    SEED_MAX,
    ModelCapabilities,
    RequestError,
    SizeRule,
    _flux,
    _gpt_image,
    capabilities_for,
    flavour_problem,
    model_list,
    parse_body,
    validate_request,
)
from shared.settings import load_settings

SETTINGS = load_settings(
    {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AZURE_OPENAI_ENDPOINT": "http://e",
        "IMAGE_REQUESTS_QUEUE": "image-requests",
        "OPENAI_API_KEY": "k",
        "IMAGE_MODELS": json.dumps(
            {
                "g2": {"deployment": "g2", "family": "gpt-image-2", "flavour": "azure-v1"},
                "o2": {"deployment": "gpt-image-2", "family": "gpt-image-2", "flavour": "openai"},
                "d2": {"deployment": "d2", "family": "dall-e-2", "flavour": "azure-deployment"},
                "d3": {"deployment": "d3", "family": "dall-e-3", "flavour": "azure-deployment"},
                "f11": {
                    "deployment": "FLUX-1.1-pro",
                    "family": "FLUX-1.1-pro",
                    "flavour": "azure-deployment",
                },
                "b11": {
                    "deployment": "flux-1.1-pro",
                    "family": "FLUX-1.1-pro",
                    "flavour": "bfl-foundry",
                },
                "ctx": {
                    "deployment": "flux.1-kontext-pro",
                    "family": "FLUX.1-Kontext-pro",
                    "flavour": "bfl-foundry",
                },
                "f2": {
                    "deployment": "flux.2-pro",
                    "family": "FLUX.2-pro",
                    "flavour": "bfl-foundry",
                },
            }
        ),
        "IMAGE_DEFAULT_MODEL": "g2",
    }
)
GPT_SIZES = "1024x1024, 1024x1536, 1536x1024, auto"
GPT_2_RULE = (
    "any WxH with both edges multiples of 16, the long edge at most 3840, long:short at most 3:1 "
    "and 655,360–8,294,400 pixels in total"
)
FLUX_11_RULE = "any WxH with both edges multiples of 32 and each edge 256–1440"
KONTEXT_RULE = "any WxH with both edges multiples of 32 and at most 1,048,576 pixels in total"
FLUX_2_RULE = (
    "any WxH with both edges multiples of 16, each edge at least 64 and at most 4,194,304 pixels "
    "in total"
)
BFL_ONLY = "on this platform (the BFL routes only: flavour bfl-foundry or bfl)"


def ask(model: str, **options: object):
    body = json.dumps({"prompt": "a badger", "model": model, **options}).encode()
    return validate_request(parse_body(body), SETTINGS.image_models, SETTINGS.image_default_model)


def refusal(model: str, **options: object) -> tuple[str | None, str]:
    with pytest.raises(RequestError) as info:
        ask(model, **options)
    assert info.value.status == 400
    return info.value.field, info.value.message


# ---- sizes: each rule at its boundary ----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("g2", "3840x1280"),  # the longest edge, at exactly 3:1
        ("g2", "1280x3840"),
        ("g2", "3024x1008"),  # exactly 3:1 away from the edge limit
        ("g2", "1024x640"),  # exactly 655,360 pixels
        ("g2", "3840x2160"),  # exactly 8,294,400 pixels
        ("b11", "256x1440"),
        ("f11", "1440x256"),
        ("b11", "1440x1440"),
        ("ctx", "1024x1024"),  # exactly 1 MP (binary)
        ("ctx", "32x32"),  # no smallest edge on Kontext
        ("ctx", "2048x512"),  # also 1 MP, and no largest edge
        ("f2", "2048x2048"),  # exactly 4 MP
        ("f2", "64x64"),
        ("f2", "4096x1024"),  # no ratio or edge cap besides the pixels
    ],
)
def test_a_size_on_the_boundary_of_its_models_rule_is_passed_on(model, size):
    assert ask(model, size=size).params.size == size


@pytest.mark.parametrize(
    ("model", "size", "problem", "takes"),
    [
        ("g2", "3856x1296", "has an edge over 3840", f"{GPT_SIZES} or {GPT_2_RULE}"),
        ("g2", "1296x3856", "has an edge over 3840", f"{GPT_SIZES} or {GPT_2_RULE}"),
        ("g2", "3072x1008", "is wider than 3:1 (long:short)", f"{GPT_SIZES} or {GPT_2_RULE}"),
        ("g2", "1008x3072", "is wider than 3:1 (long:short)", f"{GPT_SIZES} or {GPT_2_RULE}"),
        (
            "g2",
            "1008x640",
            "has 645,120 pixels; between 655,360 and 8,294,400 are accepted",
            f"{GPT_SIZES} or {GPT_2_RULE}",
        ),
        (
            "g2",
            "3840x2176",
            "has 8,355,840 pixels; between 655,360 and 8,294,400 are accepted",
            f"{GPT_SIZES} or {GPT_2_RULE}",
        ),
        (
            "g2",
            "2050x1152",
            "needs both edges to be multiples of 16",
            f"{GPT_SIZES} or {GPT_2_RULE}",
        ),
        (
            "g2",
            "2048x1160",
            "needs both edges to be multiples of 16",
            f"{GPT_SIZES} or {GPT_2_RULE}",
        ),
        ("g2", "big", "is not WxH (e.g. 2048x1152)", f"{GPT_SIZES} or {GPT_2_RULE}"),
        ("g2", "0x1024", "is not WxH (e.g. 2048x1152)", f"{GPT_SIZES} or {GPT_2_RULE}"),
        ("g2", "123456x16", "is not WxH (e.g. 2048x1152)", f"{GPT_SIZES} or {GPT_2_RULE}"),
        ("b11", "224x1024", "has an edge under 256", f"1024x1024 or {FLUX_11_RULE}"),
        ("b11", "1024x224", "has an edge under 256", f"1024x1024 or {FLUX_11_RULE}"),
        ("f11", "1472x1024", "has an edge over 1440", f"1024x1024 or {FLUX_11_RULE}"),
        (
            "f11",
            "1040x1024",
            "needs both edges to be multiples of 32",
            f"1024x1024 or {FLUX_11_RULE}",
        ),
        (
            "ctx",
            "1056x1024",
            "has 1,081,344 pixels; at most 1,048,576 are accepted",
            f"1024x1024 or {KONTEXT_RULE}",
        ),
        (
            "ctx",
            "1008x1024",
            "needs both edges to be multiples of 32",
            f"1024x1024 or {KONTEXT_RULE}",
        ),
        (
            "f2",
            "2064x2048",
            "has 4,227,072 pixels; at most 4,194,304 are accepted",
            f"1024x1024 or {FLUX_2_RULE}",
        ),
        ("f2", "48x1024", "has an edge under 64", f"1024x1024 or {FLUX_2_RULE}"),
        (
            "f2",
            "1000x1024",
            "needs both edges to be multiples of 16",
            f"1024x1024 or {FLUX_2_RULE}",
        ),
    ],
)
def test_a_size_just_past_a_rule_is_refused_saying_which_rule_and_what_is_taken(
    model, size, problem, takes
):
    assert refusal(model, size=size) == ("size", f"size {size!r} {problem}; {model} takes {takes}")


def test_a_listed_size_needs_no_rule_and_dall_e_lists_its_only_sizes():
    assert ask("g2", size="auto").params.size == "auto"
    assert refusal("d2", size="2048x1152") == (
        "size",
        "size '2048x1152' is not available for d2; choose one of 256x256, 512x512, 1024x1024",
    )


@pytest.mark.parametrize(
    ("rule", "size", "problem"),
    [
        (
            SizeRule(multiple_of=8, min_pixels=1024, source="t"),
            "16x16",
            "has 256 pixels; at least 1,024 are needed",
        ),
        (SizeRule(multiple_of=8, min_pixels=1024, source="t"), "32x32", None),  # exactly 1,024
        (SizeRule(multiple_of=8, max_ratio=1.5, source="t"), "24x16", None),  # exactly 1.5:1
        (
            SizeRule(multiple_of=8, max_ratio=1.5, source="t"),
            "32x16",
            "is wider than 1.5:1 (long:short)",
        ),
        (SizeRule(multiple_of=8, source="t"), "8x8", None),
    ],
)
def test_a_rule_checks_only_the_bounds_it_has(rule, size, problem):
    assert rule.problem(size) == problem


@pytest.mark.parametrize(
    ("rule", "described"),
    [
        (GPT_IMAGE_2_SIZES, GPT_2_RULE),
        (FLUX_1_1_PRO_SIZES, FLUX_11_RULE),
        (FLUX_KONTEXT_SIZES, KONTEXT_RULE),
        (FLUX_2_SIZES, FLUX_2_RULE),
        (SizeRule(multiple_of=8, source="t"), "any WxH with both edges multiples of 8"),
        (
            SizeRule(multiple_of=8, max_edge=100, max_pixels=5000, source="t"),
            "any WxH with both edges multiples of 8, the long edge at most 100 and at most 5,000 "
            "pixels in total",
        ),
    ],
)
def test_each_size_rule_is_described_by_the_bounds_it_has(rule, described):
    assert rule.describe() == described


# ---- options, seed and the rules between options ----------------------------------------------


@pytest.mark.parametrize(
    ("model", "options", "field", "message"),
    [
        (
            "g2",
            {"output_format": "webp"},
            "output_format",
            "output_format 'webp' is not available for g2 (webp only on OpenAI's API); "
            "choose one of png, jpeg",
        ),
        (
            "f2",
            {"output_format": "webp"},
            "output_format",
            "output_format 'webp' is not available for f2; choose one of png, jpeg",
        ),
        (
            "g2",
            {"output_format": "gif"},
            "output_format",
            "output_format 'gif' is not available for g2; choose one of png, jpeg",
        ),
        (
            "g2",
            {"moderation": "low"},
            "moderation",
            "g2 does not support moderation on this platform (OpenAI's API only)",
        ),
        (
            "o2",
            {"moderation": "high"},
            "moderation",
            "moderation 'high' is not available for o2; choose one of low, auto",
        ),
        ("d2", {"quality": "hd"}, "quality", "d2 does not support quality"),
        ("f11", {"seed": 7}, "seed", f"f11 does not support seed {BFL_ONLY}"),
        (
            "f11",
            {"output_format": "png"},
            "output_format",
            f"f11 does not support output_format {BFL_ONLY}",
        ),
        ("d3", {"seed": 7}, "seed", "d3 does not support seed (FLUX models only)"),
        ("g2", {"seed": 7}, "seed", "g2 does not support seed (FLUX models only)"),
        (
            "d3",
            {"output_compression": 5},
            "output_compression",
            "d3 does not support output_compression",
        ),
        (
            "f2",
            {"output_compression": 5, "output_format": "jpeg"},
            "output_compression",
            "f2 does not support output_compression",
        ),
        (
            "g2",
            {"output_compression": 5},
            "output_compression",
            "output_compression needs output_format jpeg (the format is png)",
        ),
        (
            "o2",
            {"output_compression": 5, "output_format": "png"},
            "output_compression",
            "output_compression needs output_format jpeg or webp (the format is png)",
        ),
        (
            "o2",
            {"background": "transparent", "output_format": "jpeg"},
            "background",
            "a transparent background needs output_format png or webp",
        ),
        (
            "g2",
            {"background": "transparent", "output_format": "jpeg"},
            "background",
            "a transparent background needs output_format png",
        ),
        (
            "f2",
            {"seed": SEED_MAX + 1},
            "seed",
            "seed: Input should be less than or equal to 9007199254740991",
        ),
        ("f2", {"seed": -1}, "seed", "seed: Input should be greater than or equal to 0"),
    ],
)
def test_each_option_rule_is_a_400_with_its_exact_message_and_field(model, options, field, message):
    assert refusal(model, **options) == (field, message)


def test_what_a_valid_request_passes_on(monkeypatch):
    full = ask(
        "o2",
        n=2,
        size="2048x1152",
        quality="high",
        output_format="webp",
        background="transparent",
        output_compression=100,
        moderation="low",
        user="u-1",
    )
    assert full.deployment.name == "o2"
    assert full.params.model_dump(exclude_none=True) == {
        "prompt": "a badger",
        "n": 2,
        "size": "2048x1152",
        "quality": "high",
        "output_format": "webp",
        "background": "transparent",
        "output_compression": 100,
        "moderation": "low",
        "user": "u-1",
    }
    # transparency with the service's default format (png) is fine
    assert ask("g2", background="transparent").params.background == "transparent"
    bfl = ask("f2", seed=SEED_MAX, output_format="jpeg")
    assert bfl.params.model_dump(exclude_none=True) == {
        "prompt": "a badger",
        "n": 1,
        "size": "1024x1024",
        "output_format": "jpeg",
        "seed": SEED_MAX,
    }
    assert ask("b11", seed=0).params.model_dump(exclude_none=True) == {
        "prompt": "a badger",
        "n": 1,
        "size": "1024x1024",
        "output_format": "png",
        "seed": 0,
    }
    image_api = ask("f11", size="512x512")
    assert image_api.params.model_dump(exclude_none=True) == {
        "prompt": "a badger",
        "n": 1,
        "size": "512x512",
    }


# ---- per platform, per model: the capability table -------------------------------------------

GPT_LINE: dict[str, Any] = {
    "prompt_max_chars": 32000,
    "n_max": 10,
    "default_size": "auto",
    "size": ["1024x1024", "1024x1536", "1536x1024", "auto"],
    "quality": ["low", "medium", "high", "auto"],
    "output_format": ["png", "jpeg", "webp"],
    "background": ["transparent", "opaque", "auto"],
    "moderation": ["low", "auto"],
    "output_compression": {"min": 0, "max": 100, "formats": ["jpeg", "webp"]},
    # edits (§3): up to 16 images, png/jpeg/webp under 50 MB each (P3), a mask, input_fidelity
    "edits": True,
    "max_input_images": 16,
    "input_formats": ["png", "jpeg", "webp"],
    "max_input_bytes": 49_999_999,
    "mask": True,
    "input_fidelity": True,
}
FLUX_LINE: dict[str, Any] = {
    "prompt_max_chars": 32000,
    "n_max": 1,
    "default_size": "1024x1024",
    "size": ["1024x1024"],
    "output_format": ["png", "jpeg"],
    "seed": True,
    "edits": False,
    "max_input_images": 0,
}
# A FLUX model that edits: reference images of at most 20 MB (B5, B7), no mask, no input_fidelity.
FLUX_EDITS: dict[str, Any] = {
    "edits": True,
    "input_formats": ["png", "jpeg", "webp"],
    "max_input_bytes": 20_000_000,
    "mask": False,
    "input_fidelity": False,
}
DESCRIBED: dict[Family, dict[str, Any]] = {
    Family.DALLE2: {
        "family": "dall-e-2",
        "prompt_max_chars": 1000,
        "n_max": 10,
        "default_size": "1024x1024",
        "size": ["256x256", "512x512", "1024x1024"],
        "edits": False,
        "max_input_images": 0,
    },
    Family.DALLE3: {
        "family": "dall-e-3",
        "prompt_max_chars": 4000,
        "n_max": 10,
        "default_size": "1024x1024",
        "size": ["1024x1024", "1792x1024", "1024x1792"],
        "quality": ["standard", "hd"],
        "style": ["vivid", "natural"],
        "edits": False,
        "max_input_images": 0,
    },
    Family.GPT_IMAGE: {"family": "gpt-image", **GPT_LINE},
    Family.GPT_IMAGE_1_MINI: {"family": "gpt-image-1-mini", **GPT_LINE, "input_fidelity": False},
    Family.GPT_IMAGE_1_5: {"family": "gpt-image-1.5", **GPT_LINE},
    Family.GPT_IMAGE_2: {"family": "gpt-image-2", **GPT_LINE, "size_rule": GPT_2_RULE},
    Family.FLUX_1_1_PRO: {"family": "FLUX-1.1-pro", **FLUX_LINE, "size_rule": FLUX_11_RULE},
    Family.FLUX_1_KONTEXT_PRO: {
        "family": "FLUX.1-Kontext-pro",
        **FLUX_LINE,
        "size_rule": KONTEXT_RULE,
        **FLUX_EDITS,
        "max_input_images": 1,
    },
    Family.FLUX_2_PRO: {
        "family": "FLUX.2-pro",
        **FLUX_LINE,
        "size_rule": FLUX_2_RULE,
        **FLUX_EDITS,
        "max_input_images": 8,
    },
    Family.FLUX_2_FLEX: {
        "family": "FLUX.2-flex",
        **FLUX_LINE,
        "size_rule": FLUX_2_RULE,
        **FLUX_EDITS,
        "max_input_images": 8,  # 10 on bfl-foundry (capabilities_for)
    },
}
OPENAI_SHAPED = frozenset(
    {Flavour.AZURE_DALLE2_ASYNC, Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI}
)
GPT_EDIT_FLAVOURS = frozenset({Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI})


def built(family: Family) -> ModelCapabilities:
    """The entry as its builder makes it now. CAPABILITIES is built once, when the module is
    imported; building it again is what shows a change in a builder (mutmut switches a mutant
    on only after the import)."""
    builders = {
        Family.GPT_IMAGE_2: lambda: _gpt_image(Family.GPT_IMAGE_2, GPT_IMAGE_2_SIZES),
        Family.FLUX_1_1_PRO: lambda: _flux(
            Family.FLUX_1_1_PRO, FLUX_1_1_PRO_SIZES, FLUX_1_FLAVOURS
        ),
        Family.FLUX_1_KONTEXT_PRO: lambda: _flux(
            Family.FLUX_1_KONTEXT_PRO, FLUX_KONTEXT_SIZES, FLUX_1_FLAVOURS, max_inputs=1
        ),
        Family.FLUX_2_PRO: lambda: _flux(
            Family.FLUX_2_PRO, FLUX_2_SIZES, FLUX_2_FLAVOURS, max_inputs=8
        ),
        Family.FLUX_2_FLEX: lambda: _flux(
            Family.FLUX_2_FLEX,
            FLUX_2_SIZES,
            FLUX_2_FLAVOURS,
            max_inputs=8,
            max_inputs_on={Flavour.BFL_FOUNDRY: 10},
        ),
    }
    if family in builders:
        return builders[family]()
    if family in (Family.GPT_IMAGE, Family.GPT_IMAGE_1_MINI, Family.GPT_IMAGE_1_5):
        return _gpt_image(family)
    return CAPABILITIES[family]


@pytest.mark.parametrize("family", list(Family))
def test_each_model_is_described_with_every_option_it_takes(family):
    for caps in (CAPABILITIES[family], built(family)):
        assert caps.describe() == DESCRIBED[family]


@pytest.mark.parametrize("family", list(Family))
def test_each_model_has_its_reply_kind_platforms_and_call_shape(family):
    flux = family.value.startswith("FLUX")
    for caps in (CAPABILITIES[family], built(family)):
        assert caps.family is family
        assert caps.returns == (
            "url" if family in (Family.DALLE2, Family.DALLE3) or flux else "b64_json"
        )
        assert caps.single_image_per_call is (family is Family.DALLE3)
        assert caps.seed is flux
        assert caps.sends_defaults is flux
        assert caps.styles == (("vivid", "natural") if family is Family.DALLE3 else None)
        assert caps.missing_here == {}
        if flux:
            two = family in (Family.FLUX_2_PRO, Family.FLUX_2_FLEX)
            assert caps.flavours == (FLUX_2_FLAVOURS if two else FLUX_1_FLAVOURS)
            assert caps.returns_on == {Flavour.BFL_FOUNDRY: "b64_json"}
            assert caps.drops_on == {Flavour.AZURE_DEPLOYMENT: ("output_format", "seed")}
        else:
            assert caps.flavours == OPENAI_SHAPED
            assert (caps.returns_on, caps.drops_on) == ({}, {})
        # where it edits, the per-flavour image count and the pixel cap (not in `describe()`)
        if family.is_gpt_image:
            assert caps.edit_flavours == GPT_EDIT_FLAVOURS
            assert caps.max_input_pixels is None
        elif caps.edits:
            assert caps.edit_flavours == caps.flavours
            assert caps.max_input_pixels == 20_000_000
        else:
            assert (caps.edit_flavours, caps.max_input_pixels) == (frozenset(), None)
            assert (caps.input_formats, caps.max_input_bytes) == ((), 0)
            assert (caps.mask, caps.input_fidelity) == (False, False)
        assert caps.max_input_images_on == (
            {Flavour.BFL_FOUNDRY: 10} if family is Family.FLUX_2_FLEX else {}
        )


def test_flux_on_the_image_api_loses_seed_and_format_and_says_where_they_are():
    caps = capabilities_for(Family.FLUX_1_KONTEXT_PRO, Flavour.AZURE_DEPLOYMENT)
    assert (caps.seed, caps.output_formats, caps.returns) == (False, None, "url")
    assert caps.missing_here == {
        "output_format": "the BFL routes only: flavour bfl-foundry or bfl",
        "seed": "the BFL routes only: flavour bfl-foundry or bfl",
    }
    on_bfl = capabilities_for(Family.FLUX_1_KONTEXT_PRO, Flavour.BFL)
    assert (on_bfl.seed, on_bfl.output_formats, on_bfl.returns) == (True, ("png", "jpeg"), "url")
    assert on_bfl.missing_here == {}
    foundry = capabilities_for(Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY)
    assert (foundry.seed, foundry.output_formats, foundry.returns) == (
        True,
        ("png", "jpeg"),
        "b64_json",
    )


@pytest.mark.parametrize("flavour", [Flavour.AZURE_V1, Flavour.AZURE_DEPLOYMENT])
def test_the_gpt_line_on_azure_loses_webp_and_moderation_only(flavour):
    caps = capabilities_for(Family.GPT_IMAGE_1_5, flavour)
    assert (caps.output_formats, caps.moderations) == (("png", "jpeg"), None)
    assert caps.compression_formats() == ("jpeg",)
    assert caps.alpha_formats() == ("png",)
    assert caps.qualities == ("low", "medium", "high", "auto")
    assert caps.returns == "b64_json"
    openai = capabilities_for(Family.GPT_IMAGE_1_5, Flavour.OPENAI)
    assert openai == CAPABILITIES[Family.GPT_IMAGE_1_5]


# ---- edits, per platform: (images, input formats, bytes per image, mask, input_fidelity) ------

GPT = (16, ("png", "jpeg"), 49_999_999, True, True)
GPT_ON_OPENAI = (16, ("png", "jpeg", "webp"), 49_999_999, True, True)
MINI = (16, ("png", "jpeg"), 49_999_999, True, False)
MINI_ON_OPENAI = (16, ("png", "jpeg", "webp"), 49_999_999, True, False)
FLUX_REFS = ("png", "jpeg", "webp")
EDIT_KEYS = ("input_formats", "max_input_bytes", "mask", "input_fidelity")


def flux_edits(images: int) -> tuple[int, tuple[str, ...], int, bool, bool]:
    return (images, FLUX_REFS, 20_000_000, False, False)


EDITS_ON: dict[tuple[Family, Flavour], tuple[int, tuple[str, ...], int, bool, bool] | None] = {
    **{(Family.DALLE2, f): None for f in OPENAI_SHAPED},
    **{(Family.DALLE3, f): None for f in OPENAI_SHAPED},
    **{
        (family, flavour): {
            Flavour.AZURE_DALLE2_ASYNC: None,
            Flavour.AZURE_DEPLOYMENT: GPT,
            Flavour.AZURE_V1: GPT,
            Flavour.OPENAI: GPT_ON_OPENAI,
        }[flavour]
        for family in (Family.GPT_IMAGE, Family.GPT_IMAGE_1_5, Family.GPT_IMAGE_2)
        for flavour in OPENAI_SHAPED
    },
    (Family.GPT_IMAGE_1_MINI, Flavour.AZURE_DALLE2_ASYNC): None,
    (Family.GPT_IMAGE_1_MINI, Flavour.AZURE_DEPLOYMENT): MINI,
    (Family.GPT_IMAGE_1_MINI, Flavour.AZURE_V1): MINI,
    (Family.GPT_IMAGE_1_MINI, Flavour.OPENAI): MINI_ON_OPENAI,
    **{(Family.FLUX_1_1_PRO, f): None for f in FLUX_1_FLAVOURS},
    # Kontext edits on Foundry's Image API too (A14); one input_image on the BFL routes (B7)
    **{(Family.FLUX_1_KONTEXT_PRO, f): flux_edits(1) for f in FLUX_1_FLAVOURS},
    **{(Family.FLUX_2_PRO, f): flux_edits(8) for f in FLUX_2_FLAVOURS},
    # FLUX.2-flex: 10 references on Foundry (A14), 8 in BFL's own API reference (B4)
    (Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY): flux_edits(10),
    (Family.FLUX_2_FLEX, Flavour.BFL): flux_edits(8),
}


def test_the_edit_table_covers_every_model_on_every_platform_that_serves_it():
    assert set(EDITS_ON) == {(f, v) for f in Family for v in CAPABILITIES[f].flavours}


@pytest.mark.parametrize(("family", "flavour"), sorted(EDITS_ON), ids=str)
def test_each_model_edits_as_its_platform_takes_it(family, flavour):
    caps = capabilities_for(family, flavour)
    described = caps.describe()
    expected = EDITS_ON[(family, flavour)]
    if expected is None:
        assert (caps.edits, caps.max_input_images, caps.mask) == (False, 0, False)
        assert (described["edits"], described["max_input_images"]) == (False, 0)
        assert not set(EDIT_KEYS) & set(described)  # GET /api/models shows no edit facts
        return
    images, formats, max_bytes, mask, fidelity = expected
    got = (caps.max_input_images, caps.input_formats, caps.max_input_bytes, caps.mask)
    assert caps.edits is True
    assert got == (images, formats, max_bytes, mask)
    assert caps.input_fidelity is fidelity
    assert caps.max_input_pixels == (None if family.is_gpt_image else 20_000_000)
    assert {k: described[k] for k in ("edits", "max_input_images", *EDIT_KEYS)} == {
        "edits": True,
        "max_input_images": images,
        "input_formats": list(formats),
        "max_input_bytes": max_bytes,
        "mask": mask,
        "input_fidelity": fidelity,
    }


def test_a_platform_without_edits_takes_no_input_formats():
    caps = capabilities_for(Family.GPT_IMAGE_2, Flavour.AZURE_DALLE2_ASYNC)
    assert caps.edits is False
    assert caps.input_formats == ()


@pytest.mark.parametrize(
    ("family", "flavour", "problem"),
    [
        (Family.FLUX_2_PRO, Flavour.BFL, None),
        (Family.FLUX_1_1_PRO, Flavour.AZURE_DEPLOYMENT, None),
        (Family.GPT_IMAGE_2, Flavour.AZURE_DALLE2_ASYNC, None),
        (
            Family.FLUX_2_PRO,
            Flavour.AZURE_DEPLOYMENT,
            "FLUX.2-pro is not served on flavour azure-deployment (it is on: bfl, bfl-foundry)",
        ),
        (
            Family.FLUX_1_KONTEXT_PRO,
            Flavour.OPENAI,
            "FLUX.1-Kontext-pro is not served on flavour openai "
            "(it is on: azure-deployment, bfl, bfl-foundry)",
        ),
        (
            Family.GPT_IMAGE,
            Flavour.BFL,
            "gpt-image-1 is not served on flavour bfl "
            "(it is on: azure-dalle2-async, azure-deployment, azure-v1, openai)",
        ),
    ],
)
def test_a_model_on_a_platform_that_does_not_serve_it_is_named_with_where_it_is(
    family, flavour, problem
):
    assert flavour_problem(family, flavour) == problem


# ---- GET /api/models ---------------------------------------------------------------------------


def test_the_models_listing_shows_each_model_as_its_platform_takes_it():
    lifecycle = {"d3": {"platform": "azure", "status": "retired", "source": "A9"}}
    listing = model_list(SETTINGS.image_models, "g2", lifecycle)
    assert listing.default_model == "g2"
    shown = {m.name: m.model_dump(exclude_none=True) for m in listing.models}
    assert list(shown) == list(SETTINGS.image_models)
    assert shown["g2"] == {
        "name": "g2",
        "model": "gpt-image-2",
        "family": Family.GPT_IMAGE_2,
        "flavour": Flavour.AZURE_V1,
        "default": True,
        "prompt_max_chars": 32000,
        "n_max": 10,
        "sizes": ["1024x1024", "1024x1536", "1536x1024", "auto"],
        "size_rule": GPT_2_RULE,
        "default_size": "auto",
        "quality": ["low", "medium", "high", "auto"],
        "output_format": ["png", "jpeg"],
        "background": ["transparent", "opaque", "auto"],
        "output_compression": {"min": 0, "max": 100, "formats": ["jpeg"]},
        "seed": False,
        "returns": "b64_json",
        # edits on Azure: png/jpeg only ("png or jpg", A3), the rest as on OpenAI
        "edits": True,
        "max_input_images": 16,
        "input_formats": ["png", "jpeg"],
        "max_input_bytes": 49_999_999,
        "mask": True,
        "input_fidelity": True,
        "previews": True,  # the GPT image line streams partial images on Azure's v1 route
    }
    assert shown["o2"]["previews"] is True
    assert shown["o2"]["output_format"] == ["png", "jpeg", "webp"]
    assert shown["o2"]["input_formats"] == ["png", "jpeg", "webp"]
    assert shown["o2"]["moderation"] == ["low", "auto"]
    assert shown["o2"]["default"] is False
    assert shown["d3"] == {
        "name": "d3",
        "model": "dall-e-3",
        "family": Family.DALLE3,
        "flavour": Flavour.AZURE_DEPLOYMENT,
        "default": False,
        "prompt_max_chars": 4000,
        "n_max": 10,
        "sizes": ["1024x1024", "1792x1024", "1024x1792"],
        "default_size": "1024x1024",
        "quality": ["standard", "hd"],
        "style": ["vivid", "natural"],
        "seed": False,
        "returns": "url",
        "edits": False,
        "max_input_images": 0,
        "previews": False,
        "lifecycle": {"platform": "azure", "status": "retired", "source": "A9"},
    }
    assert shown["f11"] == {
        "name": "f11",
        "model": "FLUX-1.1-pro",
        "family": Family.FLUX_1_1_PRO,
        "flavour": Flavour.AZURE_DEPLOYMENT,
        "default": False,
        "prompt_max_chars": 32000,
        "n_max": 1,
        "sizes": ["1024x1024"],
        "size_rule": FLUX_11_RULE,
        "default_size": "1024x1024",
        "seed": False,
        "returns": "url",
        "edits": False,
        "max_input_images": 0,
        "previews": False,
    }
    assert shown["ctx"] == {
        "name": "ctx",
        "model": "FLUX.1-Kontext-pro",
        "family": Family.FLUX_1_KONTEXT_PRO,
        "flavour": Flavour.BFL_FOUNDRY,
        "default": False,
        "prompt_max_chars": 32000,
        "n_max": 1,
        "sizes": ["1024x1024"],
        "size_rule": KONTEXT_RULE,
        "default_size": "1024x1024",
        "output_format": ["png", "jpeg"],
        "seed": True,
        "returns": "b64_json",
        "edits": True,
        "max_input_images": 1,
        "input_formats": ["png", "jpeg", "webp"],
        "max_input_bytes": 20_000_000,
        "mask": False,
        "input_fidelity": False,
        "previews": False,
    }
    assert {k: shown["f2"][k] for k in ("edits", "max_input_images", "mask")} == {
        "edits": True,
        "max_input_images": 8,
        "mask": False,
    }
    assert (shown["d2"]["edits"], shown["d2"]["max_input_images"]) == (False, 0)
    assert (shown["b11"]["edits"], shown["b11"]["max_input_images"]) == (False, 0)


def test_the_models_listing_json_leaves_out_the_options_a_model_lacks():
    listing = model_list(SETTINGS.image_models, "f2", {})
    shown = json.loads(listing.model_dump_json(exclude_none=True))
    assert shown["default_model"] == "f2"
    by_name = {m["name"]: m for m in shown["models"]}
    assert [n for n, m in by_name.items() if m["default"]] == ["f2"]
    assert set(by_name["d2"]) == {
        "name",
        "model",
        "family",
        "flavour",
        "default",
        "prompt_max_chars",
        "n_max",
        "sizes",
        "default_size",
        "seed",
        "returns",
        "edits",
        "max_input_images",
        "previews",
    }
    assert (by_name["f2"]["family"], by_name["f2"]["flavour"]) == ("FLUX.2-pro", "bfl-foundry")


def test_no_model_offers_previews_when_image_partial_images_is_0():
    streams = model_list(SETTINGS.image_models, "g2", {})
    assert [m.name for m in streams.models if m.previews] == ["g2", "o2"]
    off = model_list(SETTINGS.image_models, "g2", {}, partial_images=0)
    assert not any(m.previews for m in off.models)
