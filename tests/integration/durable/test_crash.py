"""kill -9 in the middle of work, restart on the same database: every instance completes.

Activities that were running when the process died run again (at-least-once, as on Azure), and
timers whose fireAt passed while the engine was down fire on restart.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import sys
import time
from pathlib import Path

import azure.durable_functions as df

from devstack.durable import DurableEngine
from devstack.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[3]
READY = re.compile(r"durable engine listening on (http://\S+)")


def engine_process(db: Path, markers: Path, release: bool) -> ManagedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", DURABLE_CRASH_MARKERS=str(markers))
    if release:
        env["DURABLE_CRASH_RELEASE"] = "1"
    return ManagedProcess(
        [sys.executable, "-m", "tests.integration.durable.crash_child", "--db", str(db)],
        READY,
        env=env,
        cwd=REPO_ROOT,
        name="durable-crash-child",
    )


def client_for(base_url: str, db: Path) -> df.DurableOrchestrationClient:
    binding = DurableEngine(db, invoker=None, task_hub="CrashTests").client_binding_json(base_url)  # type: ignore[arg-type]
    return df.DurableOrchestrationClient(binding)


async def poll(condition, what: str, limit: float = 60):
    deadline = time.monotonic() + limit
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def pending_timers(db: Path) -> list[float]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT fire_at FROM timers")]


async def test_kill_9_mid_flight_then_restart_completes_everything(tmp_path):
    db = tmp_path / "durable.sqlite3"
    markers = tmp_path / "markers"
    markers.mkdir()
    first = engine_process(db, markers, release=False)
    client = client_for(first.start(timeout=60).group(1), db)
    try:
        activity_ids = [
            await client.start_new("crash_workflow", f"act-{i}", {"kind": "activity", "id": i})
            for i in range(3)
        ]
        timer_ids = [
            await client.start_new(
                "crash_workflow", f"tmr-{i}", {"kind": "timer", "id": f"t{i}", "timer_ms": 5000}
            )
            for i in range(3)
        ]

        async def all_in_flight() -> bool:
            return len(list(markers.iterdir())) == 6 and len(pending_timers(db)) == 3

        await poll(all_in_flight, "6 running activities and 3 pending timers")
    finally:
        first.kill()

    # Let the pending timers' fireAt pass while the engine is down.
    latest = max(pending_timers(db))

    async def fire_time_passed() -> bool:
        return time.time() > latest

    await poll(fire_time_passed, "the timers' fireAt to pass")

    second = engine_process(db, markers, release=True)
    client = client_for(second.start(timeout=60).group(1), db)
    try:

        async def all_completed():
            statuses = [await client.get_status(i) for i in activity_ids + timer_ids]
            if all(s.runtime_status.value == "Completed" for s in statuses):
                return statuses
            return None

        statuses = await poll(all_completed, "every instance to complete")
    finally:
        second.stop()

    outputs = {s.instance_id: s.output for s in statuses}
    assert outputs["act-1"] == ["done 1-0", "done 1-1"]
    assert outputs["tmr-2"] == "Hello t2!"
    # Each interrupted activity ran again in the restarted process: at-least-once.
    runs = sorted(p.name for p in markers.iterdir())
    for i in range(3):
        for j in range(2):
            assert len([r for r in runs if r.startswith(f"slow_step-{i}-{j}-")]) == 2
