"""Keys: `api-key` or `Authorization: Bearer`, checked against the configured list."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.emulator.support import ASYNC_VERSION, Emu

DENIED = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make "
        "sure to provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource.",
    }
}

ROUTES = [
    ("POST", "/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21"),
    ("POST", f"/openai/images/generations:submit?api-version={ASYNC_VERSION}"),
    ("GET", f"/openai/operations/images/abc?api-version={ASYNC_VERSION}"),
    ("DELETE", f"/openai/operations/images/abc?api-version={ASYNC_VERSION}"),
    ("POST", "/openai/v1/images/generations"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}, {"api-key": "emulator-key"}],
    ids=["none", "wrong-key", "wrong-bearer", "default-key-replaced-by-cli"],
)
def test_missing_or_wrong_key_is_401(
    emu: Emu, method: str, path: str, headers: dict[str, str]
) -> None:
    r = httpx.request(
        method, emu.base_url + path, headers=headers, json={"prompt": "p", "model": "dall-e-3"}
    )
    assert r.status_code == 401
    assert r.json() == DENIED
    assert r.headers["x-ms-error-code"] == "401"


def test_key_or_bearer_both_work(emu: Emu) -> None:
    url = f"{emu.base_url}/openai/deployments/dall-e-2/images/generations?api-version=2024-10-21"
    body = {"prompt": "auth", "size": "256x256"}
    assert httpx.post(url, headers={"api-key": emu.api_key}, json=body).status_code == 200
    bearer = {"Authorization": f"Bearer {emu.api_key}"}
    assert httpx.post(url, headers=bearer, json=body).status_code == 200


def test_keys_can_be_changed_at_run_time(emu: Emu) -> None:
    emu.configure(api_keys=["rotated"])
    url = f"{emu.base_url}/openai/deployments/dall-e-2/images/generations?api-version=2024-10-21"
    body = {"prompt": "auth", "size": "256x256"}
    assert httpx.post(url, headers={"api-key": emu.api_key}, json=body).status_code == 401
    assert httpx.post(url, headers={"api-key": "rotated"}, json=body).status_code == 200
    assert "api_keys" not in emu.http.get("/_emulator/config").json()  # never echoed back
