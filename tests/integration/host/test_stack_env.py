"""How the Stack wires the app's settings (no processes: the e2e tests start the real thing)."""

from __future__ import annotations

import json

from devstack.azurite import AzuriteEndpoints
from devstack.stack import Stack


def _app_dir(tmp_path, values: dict[str, str]):
    app = tmp_path / "app"
    app.mkdir()
    (app / "local.settings.json").write_text(json.dumps({"Values": values}))
    return app


def _stack(tmp_path, values, env=None, emulator_url="http://127.0.0.1:5555") -> Stack:
    stack = Stack(tmp_path / "data", app_dir=_app_dir(tmp_path, values), env=env or {})
    stack.storage = AzuriteEndpoints(20000, 20001, 20002)
    stack.emulator_url = emulator_url if stack.wants_emulator() else None
    return stack


def test_development_storage_and_loopback_openai_point_at_the_local_parts(tmp_path):
    stack = _stack(
        tmp_path,
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "IMAGES_STORAGE_CONNECTION": "UseDevelopmentStorage=true",
            "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:7072",
        },
    )
    env = stack.host_env()
    conn = stack.storage.connection_string
    assert "BlobEndpoint=http://127.0.0.1:20000/devstoreaccount1" in conn
    assert env["AzureWebJobsStorage"] == conn
    assert env["IMAGES_STORAGE_CONNECTION"] == conn
    assert env["AZURE_OPENAI_ENDPOINT"] == "http://127.0.0.1:5555"
    assert env["AZURE_OPENAI_API_KEY"] == stack.emulator_key
    assert env["IMAGE_SOURCE_ALLOW_HTTP_HOSTS"] == "127.0.0.1,localhost"


def test_a_real_openai_endpoint_is_kept_and_no_emulator_is_wanted(tmp_path):
    real = "https://my-resource.openai.azure.com/"
    stack = _stack(tmp_path, {"AZURE_OPENAI_ENDPOINT": real, "AZURE_OPENAI_API_KEY": "k"})
    assert not stack.wants_emulator()
    env = stack.host_env()
    # Left to the host, which reads local.settings.json itself: the Stack does not override them.
    assert "AZURE_OPENAI_ENDPOINT" not in env
    assert "AZURE_OPENAI_API_KEY" not in env


def test_the_process_environment_decides_before_local_settings(tmp_path):
    stack = _stack(
        tmp_path,
        {"AZURE_OPENAI_ENDPOINT": "https://my-resource.openai.azure.com/"},
        env={"AZURE_OPENAI_ENDPOINT": "http://localhost:7072"},
    )
    assert stack.wants_emulator()
    assert stack.host_env()["AZURE_OPENAI_ENDPOINT"] == "http://127.0.0.1:5555"
