"""A burst of concurrent requests is answered without errors, and billed exactly."""

from __future__ import annotations

import asyncio
import base64

import httpx
from aiohttp.test_utils import TestServer

from devstack.emulator import EmulatorConfig, create_app, render
from tests.integration.emulator.support import Emu

BURST = 100


async def test_hundred_concurrent_generations_and_downloads(emu: Emu) -> None:
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
    headers = {"api-key": emu.api_key}
    async with httpx.AsyncClient(
        base_url=emu.base_url, headers=headers, limits=limits, timeout=120
    ) as client:

        async def one(i: int) -> httpx.Response:
            if i % 2:
                return await client.post(
                    "/openai/deployments/gpt-image-1-mini/images/generations",
                    params={"api-version": "2025-04-01-preview"},
                    json={"prompt": f"burst {i}"},
                )
            return await client.post(
                "/openai/deployments/dall-e-3/images/generations",
                params={"api-version": "2024-10-21"},
                json={"prompt": f"burst {i}"},
            )

        answers = await asyncio.gather(*(one(i) for i in range(BURST)))
        assert [r.status_code for r in answers] == [200] * BURST

        urls = [r.json()["data"][0]["url"] for r in answers[::2]]
        downloads = await asyncio.gather(*(client.get(u) for u in urls))

    assert {d.status_code for d in downloads} == {200}
    b64 = {r.json()["data"][0]["b64_json"] for r in answers[1::2]}
    assert len(b64) == BURST // 2  # every prompt is its own picture
    stats = emu.stats()["billed"]
    assert stats["generations"] == BURST
    assert sum(v["generations"] for v in stats["by_prompt"].values()) == BURST


async def test_create_app_serves_in_process() -> None:
    config = EmulatorConfig(api_keys=["in-process"], deployments={"only": "dall-e-2"})
    server = TestServer(create_app(config))
    await server.start_server()
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url(""))) as client:
            r = await client.post(
                "/openai/deployments/only/images/generations?api-version=2024-10-21",
                headers={"api-key": "in-process"},
                json={"prompt": "in process", "size": "256x256", "response_format": "b64_json"},
            )
            missing = await client.post(
                "/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21",
                headers={"api-key": "in-process"},
                json={"prompt": "x"},
            )
    finally:
        await server.close()
    assert r.status_code == 200
    assert base64.b64decode(r.json()["data"][0]["b64_json"]) == render(
        "in process", 256, 256, 0, "png", False
    )
    assert missing.status_code == 404
