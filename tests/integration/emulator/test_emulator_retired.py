"""`retired_models`: deployments of a retired model answer as the service does after retirement.

Azure: the contract's 404 `DeploymentNotFound` (Azure documents only that "existing deployments
stop working"); OpenAI's route: 400 `invalid_request_error`, code `model_not_found` [T].
"""

from __future__ import annotations

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from devstack.emulator.config import ConfigError, config_from_sources
from tests.integration.emulator.gpt_image_routes import AZURE_ROUTES, RouteName, post
from tests.integration.emulator.support import AZURE_VERSION, Emu

NOT_FOUND = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the "
        "deployment within the last 5 minutes, please wait a moment and try again.",
    }
}


@pytest.mark.parametrize("route", AZURE_ROUTES)
@pytest.mark.parametrize("model", ["dall-e-3", "gpt-image-1"])
def test_azure_routes_answer_deployment_not_found(emu: Emu, route: RouteName, model: str) -> None:
    emu.configure(retired_models=[model])
    r = post(emu, route, model, {"prompt": "late"})

    assert r.status_code == 404
    assert r.json() == NOT_FOUND
    assert r.headers["x-ms-error-code"] == "DeploymentNotFound"
    assert r.headers["apim-request-id"]


@pytest.mark.parametrize("model", ["dall-e-2", "dall-e-3", "gpt-image-1"])
def test_openai_route_answers_model_not_found(emu: Emu, model: str) -> None:
    emu.configure(retired_models=[model])
    r = post(emu, "openai", model, {"prompt": "late"})

    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "code": "model_not_found",
            "message": f"The model `{model}` does not exist or you do not have access to it.",
            "param": "model",
            "type": "invalid_request_error",
        }
    }


def test_openai_route_default_model_is_dall_e_2_and_can_be_retired(emu: Emu) -> None:
    emu.configure(retired_models=["dall-e-2"])
    r = emu.http.post(
        "/v1/images/generations",
        json={"prompt": "no model"},
        headers={"Authorization": f"Bearer {emu.api_key}"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "model_not_found"


def test_any_deployment_of_the_model_is_retired_and_others_still_work(emu: Emu) -> None:
    emu.configure(deployments={"prod-dalle": "dall-e-3"}, retired_models=["dall-e-3"])

    assert emu.generate("prod-dalle", {"prompt": "p"}).status_code == 404
    assert emu.generate("dall-e-2", {"prompt": "p"}).status_code == 200
    assert post(emu, "deployment", "gpt-image-2", {"prompt": "p"}).status_code == 200


def test_retired_requests_are_neither_billed_nor_counted_against_quota(emu: Emu) -> None:
    emu.configure(retired_models=["dall-e-3"], rpm_per_deployment={"dall-e-3": 1})
    for _ in range(3):
        assert emu.generate("dall-e-3", {"prompt": "p"}).status_code == 404

    emu.configure(retired_models=[])
    assert emu.generate("dall-e-3", {"prompt": "p"}).status_code == 200  # quota untouched
    stats = emu.stats()
    assert stats["billed"]["generations"] == 1
    assert stats["served"]["by_status"]["404"] == 3


def test_retired_dall_e_2_closes_the_async_submit_route(emu: Emu) -> None:
    location = emu.submit({"prompt": "before"}).headers["operation-location"]
    emu.configure(retired_models=["dall-e-2"])

    r = emu.submit({"prompt": "after"})
    assert r.status_code == 404
    assert r.json() == NOT_FOUND
    assert emu.http.get(location).status_code == 200  # an operation already submitted stays


def test_config_shows_validates_and_resets_retired_models(emu: Emu) -> None:
    assert emu.http.get("/_emulator/config").json()["retired_models"] == []
    assert emu.configure(retired_models=["dall-e-2", "dall-e-3"])["retired_models"] == [
        "dall-e-2",
        "dall-e-3",
    ]

    r = emu.http.put("/_emulator/config", json={"retired_models": ["dall-e-4"]})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalidConfig"
    assert r.json()["error"]["message"].startswith("retired_models")

    emu.http.post("/_emulator/reset")
    assert emu.http.get("/_emulator/config").json()["retired_models"] == []


def test_retired_models_at_start_up_from_flags_and_environment() -> None:
    _, from_flags = config_from_sources(
        ["--retired-model", "dall-e-3", "--retired-model", "gpt-image-1"], {}
    )
    assert from_flags.retired_models == ["dall-e-3", "gpt-image-1"]

    _, from_env = config_from_sources([], {"EMULATOR_RETIRED_MODELS": "dall-e-2, dall-e-3"})
    assert from_env.retired_models == ["dall-e-2", "dall-e-3"]

    with pytest.raises(ConfigError, match=r"^retired_models"):
        config_from_sources(["--retired-model", "dall-e-4"], {})


def test_sdks_see_the_retirement(emu: Emu) -> None:
    emu.configure(retired_models=["dall-e-3"])
    azure = AzureOpenAI(
        azure_endpoint=emu.base_url, api_key=emu.api_key, api_version=AZURE_VERSION, max_retries=0
    )
    with pytest.raises(openai.NotFoundError) as not_found:
        azure.images.generate(model="dall-e-3", prompt="x")
    assert not_found.value.code == "DeploymentNotFound"

    own = OpenAI(base_url=emu.base_url + "/v1", api_key=emu.api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad:
        own.images.generate(model="dall-e-3", prompt="x")
    assert (bad.value.code, bad.value.param, bad.value.type) == (
        "model_not_found",
        "model",
        "invalid_request_error",
    )
