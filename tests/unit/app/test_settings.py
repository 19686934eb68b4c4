"""Settings: defaults, IMAGE_MODELS, and a clear error naming the broken setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.imaging.types import Family, Flavour
from shared.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[3]
QUEUE = {"IMAGE_REQUESTS_QUEUE": "image-requests"}  # the queue binding's, required
BASE = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "AZURE_OPENAI_ENDPOINT": "http://e/",
    **QUEUE,
}


def test_defaults_describe_the_gpt_image_line_and_the_seeds_models_on_the_azure_endpoint():
    s = load_settings(BASE)
    assert list(s.image_models) == [
        "gpt-image-2",
        "gpt-image-1.5",
        "gpt-image-1-mini",
        "gpt-image-1",
        "dall-e-2",
        "dall-e-3",
    ]
    d2 = s.image_models["dall-e-2"]
    assert (d2.family, d2.flavour) == (Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC)
    assert d2.endpoint == "http://e"
    for name, family in [
        ("gpt-image-2", Family.GPT_IMAGE_2),
        ("gpt-image-1.5", Family.GPT_IMAGE_1_5),
        ("gpt-image-1-mini", Family.GPT_IMAGE_1_MINI),
        ("gpt-image-1", Family.GPT_IMAGE),
    ]:
        d = s.image_models[name]
        assert (d.family, d.flavour, d.deployment) == (family, Flavour.AZURE_DEPLOYMENT, name)
        assert d.api_version == "2025-04-01-preview"
    assert s.image_default_model == "gpt-image-2"
    assert s.images_container == "images"
    assert s.images_storage == "UseDevelopmentStorage=true"  # falls back to AzureWebJobsStorage
    assert s.image_source_allowed_hosts == ["*.blob.core.windows.net", "delivery*.bfl.ai"]
    assert s.image_source_allow_http_hosts == []
    assert s.azure_openai_api_key is None  # → DefaultAzureCredential


def test_image_models_json_with_openai_and_per_model_endpoint():
    models = {
        "fast": {"deployment": "gpt-image-1-mini", "family": "gpt-image", "flavour": "openai"},
        "art": {
            "deployment": "d3",
            "family": "dall-e-3",
            "flavour": "azure-v1",
            "endpoint": "https://other.openai.azure.com",
        },
    }
    s = load_settings(
        {
            **QUEUE,
            "AzureWebJobsStorage": "x",
            "IMAGE_MODELS": json.dumps(models),
            "IMAGE_DEFAULT_MODEL": "art",
            "OPENAI_API_KEY": "sk-test",
            "IMAGE_SOURCE_ALLOW_HTTP_HOSTS": "127.0.0.1, LocalHost",
        }
    )
    assert s.image_models["fast"].endpoint == "https://api.openai.com/v1"
    assert s.image_models["art"].endpoint == "https://other.openai.azure.com"
    assert s.image_models["art"].api_version is None
    assert s.image_source_allow_http_hosts == ["127.0.0.1", "localhost"]
    assert "sk-test" not in repr(s)


def test_identity_based_storage_needs_no_connection_string():
    # Keyless on Azure: the host's storage by AzureWebJobsStorage__accountName, the images by
    # account URL and managed identity. No AzureWebJobsStorage connection string at all.
    s = load_settings(
        {
            **QUEUE,
            "AzureWebJobsStorage__accountName": "contosoimages",
            "IMAGES_STORAGE_ACCOUNT_URL": "https://contosoimages.blob.core.windows.net",
            "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
        }
    )
    assert s.azure_webjobs_storage is None
    assert s.images_storage_account_url == "https://contosoimages.blob.core.windows.net"
    assert s.queue_service_url == "https://contosoimages.queue.core.windows.net"


@pytest.mark.parametrize(
    ("env", "setting", "words"),
    [
        ({**QUEUE, "AZURE_OPENAI_ENDPOINT": "http://e"}, "AzureWebJobsStorage", "missing"),
        ({**QUEUE, "AzureWebJobsStorage": "x"}, "AZURE_OPENAI_ENDPOINT", "missing"),
        (
            {"AzureWebJobsStorage": "x", "AZURE_OPENAI_ENDPOINT": "http://e"},
            "IMAGE_REQUESTS_QUEUE",
            "missing",
        ),
        ({**BASE, "IMAGE_REQUESTS_QUEUE": "Image_Requests"}, "IMAGE_REQUESTS_QUEUE", "pattern"),
        ({**BASE, "IMAGE_REQUESTS_QUEUE": "a--b"}, "IMAGE_REQUESTS_QUEUE", "pattern"),
        ({**BASE, "IMAGE_RESULTS_QUEUE": "x"}, "IMAGE_RESULTS_QUEUE", "pattern"),
        ({**BASE, "IMAGE_RESULTS_QUEUE_ENABLED": "maybe"}, "IMAGE_RESULTS_QUEUE_ENABLED", "bool"),
        ({**BASE, "IMAGE_MODELS": "{nope"}, "IMAGE_MODELS", "not valid JSON"),
        ({**BASE, "IMAGE_MODELS": "[]"}, "IMAGE_MODELS", "JSON object"),
        (
            {**BASE, "IMAGE_MODELS": '{"m": {"deployment": "d", "family": "dall-e-4"}}'},
            "IMAGE_MODELS",
            "'m'",
        ),
        ({**BASE, "IMAGE_DEFAULT_MODEL": "dall-e-9"}, "IMAGE_DEFAULT_MODEL", "dall-e-9"),
        ({**BASE, "IMAGE_MAX_ATTEMPTS": "many"}, "IMAGE_MAX_ATTEMPTS", "integer"),
        ({**BASE, "IMAGE_SAS_TTL_MINUTES": "0"}, "IMAGE_SAS_TTL_MINUTES", "greater"),
        ({**BASE, "IMAGES_CONTAINER": "Bad_Name"}, "IMAGES_CONTAINER", "pattern"),
        *(
            (
                {**BASE, "EDIT_SOURCE_ALLOW_HTTP_ORIGINS": bad},
                "EDIT_SOURCE_ALLOW_HTTP_ORIGINS",
                "origin",
            )
            for bad in (
                "127.0.0.1",
                "http://127.0.0.1",
                "https://a:1",
                "http://a:1/path",
                "http://:10000",
                "http://u:p@h:1",
                "http://h:99999",
                "http://h:1#f",
            )
        ),
    ],
)
def test_a_bad_setting_is_named_in_the_error(env, setting, words):
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert info.value.setting == setting
    assert setting in str(info.value)
    assert words in str(info.value)


def test_results_queue_is_off_unless_enabled_and_then_named_or_defaulted():
    assert load_settings(BASE).results_queue is None
    assert load_settings({**BASE, "IMAGE_RESULTS_QUEUE": "done"}).results_queue is None
    on = {**BASE, "IMAGE_RESULTS_QUEUE_ENABLED": "true"}
    assert load_settings(on).results_queue == "image-results"
    assert load_settings({**on, "IMAGE_RESULTS_QUEUE": "done-jobs"}).results_queue == "done-jobs"
    assert load_settings({**BASE, "IMAGE_RESULTS_QUEUE_ENABLED": "0"}).results_queue is None


def test_callback_http_hosts_are_a_trimmed_lower_case_list():
    s = load_settings({**BASE, "CALLBACK_ALLOW_HTTP_HOSTS": " LocalHost , 127.0.0.1 ,"})
    assert s.callback_allow_http_hosts == ["localhost", "127.0.0.1"]
    assert load_settings(BASE).callback_allow_http_hosts == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PUBLIC_BASE_URL": "https://img.example.com/"}, "https://img.example.com"),
        ({"WEBSITE_HOSTNAME": "app.azurewebsites.net"}, "https://app.azurewebsites.net"),
        ({"WEBSITE_HOSTNAME": "localhost:7071"}, "http://localhost:7071"),
        (
            {"PUBLIC_BASE_URL": "https://a.example", "WEBSITE_HOSTNAME": "b.azurewebsites.net"},
            "https://a.example",
        ),
        ({}, ""),
    ],
)
def test_public_base_url_prefers_the_setting_then_azures_host_name(env, expected):
    assert load_settings({**BASE, **env}).public_base_url == expected


def test_queue_service_url_prefers_the_explicit_uri():
    s = load_settings(
        {
            **BASE,
            "AzureWebJobsStorage__queueServiceUri": "https://q.example/",
            "AzureWebJobsStorage__accountName": "other",
        }
    )
    assert s.queue_service_url == "https://q.example/"
    assert load_settings(BASE).queue_service_url is None


def test_nothing_in_the_app_reads_the_environment_but_the_settings_class():
    readers = []
    for path in (REPO / "shared").rglob("*.py"):
        if path.name == "settings.py" and path.parent.name == "shared":
            continue
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "getenv(" in text:
            readers.append(str(path.relative_to(REPO)))
    assert readers == []


def test_secret_values_never_appear_in_a_settings_error():
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, "AZURE_OPENAI_API_KEY": "super-secret", "IMAGE_MAX_BYTES": "-1"})
    assert "super-secret" not in str(info.value)


def test_function_app_imports_and_lists_its_functions_with_only_the_sample_settings():
    sample = json.loads((REPO / "local.settings.sample.json").read_text())["Values"]
    env = {"PATH": os.environ.get("PATH", ""), **sample}
    code = (
        "import function_app, json\n"
        "from shared.settings import get_settings\n"
        "get_settings()\n"
        "fs = function_app.app.get_functions()\n"
        "print(json.dumps(sorted(f.get_function_name() for f in fs)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    names = json.loads(proc.stdout.strip().splitlines()[-1])
    for expected in (
        "start_image_job",
        "get_image_job",
        "get_image_file",
        "image_job",
        "generate_images",
        "persist_image",
        "submit_operation",
        "poll_operation",
        "delete_operation",
    ):
        assert expected in names


def test_image_models_json_names_every_gpt_image_model_and_gets_its_api_version():
    models = {
        name: {"deployment": f"d-{name}", "family": family, "flavour": "azure-deployment"}
        for name, family in [
            ("two", "gpt-image-2"),
            ("one-five", "gpt-image-1.5"),
            ("mini", "gpt-image-1-mini"),
            ("one", "gpt-image-1"),  # another name for family gpt-image
            ("legacy", "gpt-image"),
        ]
    }
    s = load_settings({**BASE, "IMAGE_MODELS": json.dumps(models), "IMAGE_DEFAULT_MODEL": "two"})
    assert [d.family for d in s.image_models.values()] == [
        Family.GPT_IMAGE_2,
        Family.GPT_IMAGE_1_5,
        Family.GPT_IMAGE_1_MINI,
        Family.GPT_IMAGE,
        Family.GPT_IMAGE,
    ]
    assert {d.api_version for d in s.image_models.values()} == {"2025-04-01-preview"}


def test_first_load_warns_about_retired_and_soon_retired_models(monkeypatch, caplog):
    from shared import settings as settings_module

    for name in list(os.environ):
        if name.startswith(("IMAGE_", "AZURE_OPENAI", "OPENAI_")):
            monkeypatch.delenv(name)
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    settings_module.reset_settings_cache()
    try:
        with caplog.at_level("WARNING", logger="shared.settings"):
            settings_module.get_settings()
            settings_module.get_settings()  # cached: warned once
    finally:
        settings_module.reset_settings_cache()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    # The defaults keep the seeds' DALL-E models and gpt-image-1, all retired on Azure by now.
    assert any("'dall-e-3'" in w and "retired" in w and "2026-03-04" in w for w in warned)
    assert any("'gpt-image-1'" in w and "2026-10-23" in w for w in warned)
    assert len(warned) == len(set(warned))


BFL_MODELS = {
    "bfl-FLUX.2-pro": {"deployment": "FLUX.2-pro", "family": "FLUX.2-pro", "flavour": "bfl"},
    "gpt-image-2": {
        "deployment": "gpt-image-2",
        "family": "gpt-image-2",
        "flavour": "azure-deployment",
    },
}


def test_a_bfl_model_without_bfl_api_key_is_refused_naming_the_setting_and_the_model():
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, "IMAGE_MODELS": json.dumps(BFL_MODELS)})
    assert info.value.setting == "BFL_API_KEY"
    assert "'bfl-FLUX.2-pro'" in str(info.value)


def test_bfl_models_reach_bfl_endpoint_by_default_and_their_own_when_given():
    models = {
        **BFL_MODELS,
        "eu-flex": {
            "deployment": "flux-2-flex",
            "family": "FLUX.2-flex",
            "flavour": "bfl",
            "endpoint": "https://api.eu.bfl.ai/",
        },
    }
    env = {**BASE, "IMAGE_MODELS": json.dumps(models), "BFL_API_KEY": "bfl-secret-7f3a"}
    s = load_settings(env)
    assert s.image_models["bfl-FLUX.2-pro"].endpoint == "https://api.bfl.ai"
    assert s.image_models["eu-flex"].endpoint == "https://api.eu.bfl.ai"
    assert s.image_models["gpt-image-2"].endpoint == "http://e"  # Azure's, untouched
    moved = load_settings({**env, "BFL_ENDPOINT": "https://api.us.bfl.ai/"})
    assert moved.image_models["bfl-FLUX.2-pro"].endpoint == "https://api.us.bfl.ai"
    assert "bfl-secret-7f3a" not in repr(s)


def test_without_bfl_models_bfl_api_key_is_not_needed():
    assert load_settings(BASE).bfl_api_key is None


def _one_model(family: str, flavour: str) -> dict[str, str]:
    model = {"deployment": "d", "family": family, "flavour": flavour}
    return {**BASE, "IMAGE_MODELS": json.dumps({"m": model}), "IMAGE_DEFAULT_MODEL": "m"}


@pytest.mark.parametrize("family", ["FLUX.2-pro", "FLUX.2-flex"])
def test_flux_2_on_the_image_api_is_refused_naming_image_models(family):
    with pytest.raises(SettingsError) as info:
        load_settings(_one_model(family, "azure-deployment"))
    assert info.value.setting == "IMAGE_MODELS"
    assert f"model 'm': {family} is not served on flavour azure-deployment" in str(info.value)
    assert "bfl-foundry" in str(info.value)


@pytest.mark.parametrize(
    ("family", "flavour"),
    [("gpt-image-2", "bfl-foundry"), ("dall-e-3", "bfl-foundry"), ("FLUX-1.1-pro", "azure-v1")],
)
def test_a_model_on_a_flavour_that_does_not_serve_it_is_refused(family, flavour):
    with pytest.raises(SettingsError) as info:
        load_settings(_one_model(family, flavour))
    assert info.value.setting == "IMAGE_MODELS"
    assert f"not served on flavour {flavour}" in str(info.value)


def test_flux_1_on_the_image_api_defaults_to_api_version_preview_and_bfl_foundry_to_none():
    for family in ("FLUX-1.1-pro", "FLUX.1-Kontext-pro"):
        on_image_api = load_settings(_one_model(family, "azure-deployment")).image_models["m"]
        assert (on_image_api.endpoint, on_image_api.api_version) == ("http://e", "preview")
    for family in ("FLUX-1.1-pro", "FLUX.1-Kontext-pro", "FLUX.2-pro", "FLUX.2-flex"):
        on_bfl_route = load_settings(_one_model(family, "bfl-foundry")).image_models["m"]
        # the client sends api-version=preview when none is configured (shared.imaging.bfl_foundry)
        assert (on_bfl_route.endpoint, on_bfl_route.api_version) == ("http://e", None)


def test_edit_inputs_over_plain_http_are_exact_origins():
    s = load_settings({**BASE, "EDIT_SOURCE_ALLOW_HTTP_ORIGINS": "http://127.0.0.1:10000, "})
    assert s.edit_source_allow_http_origins == ["http://127.0.0.1:10000"]
    assert load_settings(BASE).edit_source_allow_http_origins == []
