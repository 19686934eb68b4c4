"""Instance management through the client: terminate, suspend/resume, purge, queries, restart,
and the HTTP API's own answers (status codes, conflicts, the check-status response)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import httpx
import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as RS,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


async def test_terminate_a_waiting_instance(durable):
    iid = await durable.client.start_new("two_events")
    await durable.wait_for(iid, "Running")
    await durable.client.terminate(iid, "operator said stop")
    status = await durable.done(iid)
    assert status.runtime_status.value == "Terminated"
    assert status.output == "operator said stop"
    # Terminating a finished instance is accepted (410) and changes nothing.
    await durable.client.terminate(iid, "again")
    assert (await durable.client.get_status(iid)).output == "operator said stop"
    with pytest.raises(Exception, match="No instance"):
        await durable.client.terminate("nobody", "x")


async def test_suspend_holds_events_until_resume(durable):
    iid = await durable.client.start_new("two_events")
    await durable.wait_for(iid, "Running")
    await durable.client.suspend(iid, "maintenance")
    await durable.wait_for(iid, "Suspended")
    await durable.client.raise_event(iid, "first", 1)
    await durable.client.raise_event(iid, "second", 2)
    # Suspended: the events are kept, not processed, however long the engine has to look at them.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        status = await durable.client.get_status(iid, show_history=True)
        assert status.runtime_status.value == "Suspended"
        assert "EventRaised" not in [e["EventType"] for e in status.historyEvents]
        await asyncio.sleep(0.05)
    kept = durable.engine.store.inbox_for(iid)
    assert [(r.kind, r.event.get("Name")) for r in kept] == [
        ("event", "first"),
        ("event", "second"),
    ]
    await durable.client.resume(iid, "done")
    status = await durable.done(iid)
    assert status.output == [1, 2]
    kinds = [e["EventType"] for e in status.historyEvents]
    assert "ExecutionSuspended" in kinds
    assert "ExecutionResumed" in kinds


async def test_queries_filter_by_status_time_and_prefix(durable):
    before = datetime.now(UTC) - timedelta(seconds=5)
    done = await durable.client.start_new("fan_out", "q-done", 2)
    waiting = await durable.client.start_new("two_events", "q-wait")
    other = await durable.client.start_new("two_events", "other-wait")
    await durable.done(done)
    await durable.wait_for(waiting, "Running")
    await durable.wait_for(other, "Running")

    every = {s.instance_id for s in await durable.client.get_status_all()}
    assert {done, waiting, other} <= every
    running = await durable.client.get_status_by(
        created_time_from=before, runtime_status=[RS.Running]
    )
    assert {s.instance_id for s in running} == {waiting, other}
    prefixed = await durable.client.get_status_by(instance_id_prefix="q-")
    assert {s.instance_id for s in prefixed} == {done, waiting}
    future = await durable.client.get_status_by(
        created_time_from=datetime.now(UTC) + timedelta(hours=1)
    )
    assert future == []


async def test_purge_single_and_by_filter(durable):
    a = await durable.client.start_new("fan_out", "purge-a", 1)
    b = await durable.client.start_new("fan_out", "purge-b", 1)
    live = await durable.client.start_new("two_events", "purge-live")
    await durable.done(a)
    await durable.done(b)
    await durable.wait_for(live, "Running")

    assert (await durable.client.purge_instance_history(a)).instances_deleted == 1
    assert not await durable.client.get_status(a)
    assert (await durable.client.purge_instance_history(a)).instances_deleted == 0

    result = await durable.client.purge_instance_history_by(
        created_time_from=datetime.now(UTC) - timedelta(minutes=5),
        runtime_status=[RS.Completed, RS.Running],
    )
    assert result.instances_deleted == 1  # b; a running instance is never purged
    assert not await durable.client.get_status(b)
    assert (await durable.client.get_status(live)).runtime_status.value == "Running"


async def test_start_with_a_running_id_conflicts_and_a_finished_id_is_reused(durable):
    iid = await durable.client.start_new("two_events", "fixed-id")
    await durable.wait_for(iid, "Running")
    with pytest.raises(Exception, match="already exists"):
        await durable.client.start_new("two_events", "fixed-id")
    await durable.client.terminate(iid, "make room")
    await durable.done(iid)
    again = await durable.client.start_new("fan_out", "fixed-id", 3)
    status = await durable.done(again)
    assert status.name == "fan_out"
    assert status.output == 5


async def test_restart_runs_the_same_input_again(durable):
    iid = await durable.client.start_new("fan_out", client_input=4)
    await durable.done(iid)
    new_id = await durable.client.restart(iid, restart_with_new_instance_id=True)
    assert new_id != iid
    status = await durable.done(new_id)
    assert status.output == 14


async def test_wait_for_completion_or_check_status_response(durable):
    request = func.HttpRequest("POST", f"{durable.base_url}/api/start", body=b"")
    iid = await durable.client.start_new("fan_out", client_input=3)
    done = await durable.client.wait_for_completion_or_create_check_status_response(
        request, iid, timeout_in_milliseconds=20000, retry_interval_in_milliseconds=50
    )
    assert done.status_code == 200
    assert json.loads(done.get_body()) == 5

    waiting = await durable.client.start_new("two_events")
    pending = await durable.client.wait_for_completion_or_create_check_status_response(
        request, waiting, timeout_in_milliseconds=100, retry_interval_in_milliseconds=50
    )
    assert pending.status_code == 202
    links = json.loads(pending.get_body())
    # The management URLs point at this engine and work as they are.
    async with httpx.AsyncClient() as http:
        r = await http.get(links["statusQueryGetUri"])
    assert r.status_code == 202
    assert r.json()["runtimeStatus"] in ("Pending", "Running")
    assert r.headers["Location"]


async def test_status_route_codes_and_shapes(durable):
    async with httpx.AsyncClient(base_url=durable.base_url) as http:
        missing = await http.get("/runtime/webhooks/durabletask/instances/nope")
        assert missing.status_code == 404
        assert missing.content == b""
        # Started over raw HTTP with a once-encoded body, as curl would.
        started = await http.post(
            "/runtime/webhooks/durabletask/orchestrators/fan_out/raw-1", content=b"2"
        )
        assert started.status_code == 202
        await durable.engine.wait_for_completion("raw-1", 20)
        done = await http.get("/runtime/webhooks/durabletask/instances/raw-1")
        assert done.status_code == 200
        body = done.json()
        assert body["output"] == 1
        assert body["input"] == 2
        assert body["runtimeStatus"] == "Completed"
        assert body["createdTime"].endswith("Z")
        assert len(body["createdTime"]) == len("2026-01-01T00:00:00Z")
        failed_id = await durable.client.start_new("failing")
        await durable.engine.wait_for_completion(failed_id, 20)
        failed = await http.get(f"/runtime/webhooks/durabletask/instances/{failed_id}")
        assert failed.status_code == 200
        strict = await http.get(
            f"/runtime/webhooks/durabletask/instances/{failed_id}",
            params={"returnInternalServerErrorOnFailure": "true"},
        )
        assert strict.status_code == 500
        metrics = await http.get("/runtime/webhooks/durabletask/_devstack/instances/raw-1/metrics")
        assert metrics.json()["actionsScheduled"] == 2


async def test_cli_shows_instances_from_the_database(durable):
    iid = await durable.client.start_new("fan_out", "cli-1", 3)
    await durable.done(iid)
    waiting = await durable.client.start_new("two_events", "cli-2")
    await durable.wait_for(waiting, "Running")
    db = str(durable.engine.db_path)

    async def cli(*args: str) -> str:
        """``python -m devstack.durable ARGS``'s output; a non-zero exit fails the test."""
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "devstack.durable", *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=True,
        )
        return done.stdout

    listed = await cli("list", "--db", db, "--status", "Running")
    assert [json.loads(line)["instanceId"] for line in listed.splitlines()] == ["cli-2"]
    detail = json.loads(await cli("show", "--db", db, "cli-1", "--history"))
    assert detail["output"] == 5
    assert detail["metrics"]["actionsScheduled"] == 3
    assert detail["historyEvents"][-1]["EventType"] == "ExecutionCompleted"
