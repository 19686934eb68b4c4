"""One gpt-image request on any of the three synchronous routes (shared by the gpt-image tests).

The per-platform rules differ between Azure and OpenAI's own API, and Azure has two routes; a
test that names the route it means keeps "which platform refused this?" obvious.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from tests.integration.emulator.support import GPT_IMAGE_VERSION, Emu

RouteName = Literal["deployment", "azure-v1", "openai"]
ROUTES: tuple[RouteName, ...] = ("deployment", "azure-v1", "openai")
AZURE_ROUTES: tuple[RouteName, ...] = ("deployment", "azure-v1")


def post(emu: Emu, route: RouteName, model: str, body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` for deployment/model ``model`` on ``route`` with that route's auth."""
    if route == "deployment":
        return emu.generate(model, body, GPT_IMAGE_VERSION)
    if route == "azure-v1":
        return emu.http.post("/openai/v1/images/generations", json={"model": model, **body})
    return emu.http.post(
        "/v1/images/generations",
        json={"model": model, **body},
        headers={"Authorization": f"Bearer {emu.api_key}"},
    )


def invalid(field: str, detail: str | None = None) -> str:
    """The emulator's invalid-property message: the documented sentence, then the rule."""
    message = f"Invalid payload: Value for property {field} is invalid."
    return f"{message} {detail}" if detail else message
