"""SIGKILL the host with 20 jobs mid-flight: after a restart on the same data, all 20 finish."""

from __future__ import annotations

import time

import httpx

from devstack.emulator.images import render

from .conftest import wait_for_result

JOBS = 20


def _stage(client: httpx.Client, url: str) -> str:
    r = client.get(url)
    if r.status_code != 202:
        return r.json().get("status", str(r.status_code))
    return (r.json().get("progress") or {}).get("stage", "")


def test_all_jobs_complete_after_host_is_killed_mid_flight(stack, emulator_config):
    # Slow generations, so that every job is still in flight when the host dies.
    emulator_config({"latency_seconds": 30})
    prompts = [f"crash test badger {i}" for i in range(JOBS)]
    with httpx.Client(timeout=30) as client:
        urls = []
        for prompt in prompts:
            r = client.post(f"{stack.api_url}/images", json={"prompt": prompt, "model": "dall-e-3"})
            assert r.status_code == 202, r.text
            urls.append(r.json()["statusQueryGetUri"])

        # Wait (with a deadline) until the host is generating: activities are in flight.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stages = [_stage(client, u) for u in urls]
            if stages.count("generating") >= 10:
                break
            time.sleep(0.2)
        assert stages.count("generating") >= 10, stages
        assert "succeeded" not in stages

        stack.kill_host()
        emulator_config({"latency_seconds": 0})
        stack.start_host()

        results = [wait_for_result(client, u, timeout=90) for u in urls]
        assert [r.status_code for r in results] == [200] * JOBS, [r.text for r in results]
        for prompt, result in zip(prompts, results, strict=True):
            [image] = result.json()["images"]
            stored = httpx.get(image["url"], timeout=30)
            assert stored.status_code == 200
            assert stored.content == render(prompt, 1024, 1024, 0, "png")
