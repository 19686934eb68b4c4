"""Shared helpers of the emulator tests (imported by conftest and the test modules)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

AZURE_VERSION = "2024-10-21"
GPT_IMAGE_VERSION = "2025-04-01-preview"
ASYNC_VERSION = "2023-06-01-preview"


class Emu:
    """Thin wrapper over the running emulator: requests with the right key, config, stats."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.http = httpx.Client(base_url=base_url, headers={"api-key": api_key}, timeout=30)

    def configure(self, **patch: Any) -> dict[str, Any]:
        r = self.http.put("/_emulator/config", json=patch)
        assert r.status_code == 200, r.text
        return r.json()

    def stats(self) -> dict[str, Any]:
        r = self.http.get("/_emulator/stats")
        assert r.status_code == 200
        return r.json()

    def generate(
        self, deployment: str, body: dict[str, Any], api_version: str = AZURE_VERSION
    ) -> httpx.Response:
        return self.http.post(
            f"/openai/deployments/{deployment}/images/generations",
            params={"api-version": api_version},
            json=body,
        )

    def submit(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            "/openai/images/generations:submit", params={"api-version": ASYNC_VERSION}, json=body
        )

    def poll_until(
        self, location: str, done: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> list[dict[str, Any]]:
        """GET the operation until ``done(body)``; returns every body seen. Deadline, no sleep."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.http.get(location)
            assert r.status_code == 200, r.text
            seen.append(r.json())
            if done(seen[-1]):
                return seen
        raise AssertionError(f"operation not done before the deadline: {seen[-1:]}")

    def close(self) -> None:
        self.http.close()


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def b64_image(item: dict[str, Any]) -> bytes:
    return base64.b64decode(item["b64_json"])


def split_image(
    size: tuple[int, int] = (600, 400),
    fmt: str = "PNG",
    left: tuple[int, int, int] = (220, 20, 20),
    right: tuple[int, int, int] = (20, 20, 220),
) -> bytes:
    """Left half red, right half blue: where each lands shows the input was stretched, not drawn."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def solid_image(
    colour: tuple[int, ...], size: tuple[int, int] = (64, 64), fmt: str = "PNG", mode: str = "RGB"
) -> bytes:
    """A one-colour image file: an edit's output shows its colour where the input lands."""
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def edit_chunk(data: bytes) -> dict[str, Any]:
    """The `emulator-edit` JSON of an edited image: PNG text chunk, or the JPEG comment."""
    image = Image.open(io.BytesIO(data))
    raw = image.info["emulator-edit"] if image.format == "PNG" else image.info["comment"]
    parsed: dict[str, Any] = json.loads(raw)
    return parsed
