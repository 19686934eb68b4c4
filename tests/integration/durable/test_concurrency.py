"""Parallel retries keep task ids in step with the SDK; sub-orchestration retries; the
activity concurrency limit holds."""

from __future__ import annotations

import asyncio
import time

import azure.durable_functions as df

from devstack.durable import DurableEngine

from .sample_app import CALLS, GATE, GAUGE
from .serving import serve


async def test_parallel_retries_with_a_plain_call(durable):
    jobs = [
        {"key": "par-a", "fail_times": 1},
        {"key": "par-b", "fail_times": 0},
        {"key": "par-c", "fail_times": 2},
    ]
    iid = await durable.client.start_new("retrying_fan_out", client_input=jobs)
    status = await durable.done(iid)
    assert status.runtime_status.value == "Completed", status.output
    assert status.output == [
        "ok after 2 attempts",
        "ok after 1 attempts",
        "ok after 3 attempts",
        49,
    ]
    assert CALLS["flaky:par-c"] == 3


async def test_sub_orchestration_retry_starts_a_new_child(durable):
    iid = await durable.client.start_new(
        "retrying_parent", client_input={"key": "child-retry", "fail_times": 1}
    )
    status = await durable.done(iid)
    assert status.output == "ok after 2 attempts"
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds.count("SubOrchestrationInstanceFailed") == 1
    assert kinds.count("SubOrchestrationInstanceCompleted") == 1


async def test_activity_concurrency_limit(tmp_path, invoker):
    engine = DurableEngine(tmp_path / "d.sqlite3", invoker, max_concurrent_activities=2)
    await engine.start()
    runner, base_url = await serve(engine)
    GAUGE.update(active=0, max=0)
    GATE["gate"] = asyncio.Event()
    try:
        client = df.DurableOrchestrationClient(engine.client_binding_json(base_url))
        iid = await client.start_new("gauged_fan_out", client_input=5)
        deadline = time.monotonic() + 20
        while GAUGE["active"] < 2:
            assert time.monotonic() < deadline, "activities never started"
            await asyncio.sleep(0.01)
        # Give the dispatcher every chance to (wrongly) start more than the limit.
        for _ in range(20):
            await asyncio.sleep(0)
        GATE["gate"].set()
        status = await engine.wait_for_completion(iid, 20)
        assert status["output"] == 10
        assert GAUGE["max"] == 2
    finally:
        GATE["gate"].set()
        await runner.cleanup()
        await engine.stop()
