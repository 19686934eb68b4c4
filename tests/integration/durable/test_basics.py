"""Activities, fan-out, failures and the status API, through the real client over HTTP."""

from __future__ import annotations

import pytest

from devstack.durable import DurableEngine

from .sample_app import CALLS


async def test_activity_sequence_completes_with_history(durable):
    iid = await durable.client.start_new("hello_sequence", client_input=["Tokyo", "Lima"])
    status = await durable.done(iid)
    assert status.runtime_status.value == "Completed"
    assert status.output == ["HELLO TOKYO!", "HELLO LIMA!"]
    assert status.input_ == ["Tokyo", "Lima"]
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds[0] == "ExecutionStarted"
    assert kinds[-1] == "ExecutionCompleted"
    completed = [e for e in status.historyEvents if e["EventType"] == "TaskCompleted"]
    assert [e["FunctionName"] for e in completed] == ["say_hello", "shout"] * 2
    assert completed[0]["Result"] == "Hello Tokyo!"
    assert "OrchestratorStarted" not in kinds
    assert "TaskScheduled" not in kinds


async def test_fan_out_fan_in(durable):
    iid = await durable.client.start_new("fan_out", client_input=6)
    status = await durable.done(iid)
    assert status.output == sum(i * i for i in range(6))
    metrics = durable.engine.metrics(iid)
    assert metrics["actionsScheduled"] == 6
    assert metrics["historyBytes"] > 0


async def test_orchestrator_failure_carries_its_message(durable):
    iid = await durable.client.start_new("failing")
    status = await durable.done(iid)
    assert status.runtime_status.value == "Failed"
    assert "deliberate failure: the input was rejected" in status.output


async def test_unsupported_action_fails_the_instance_clearly(durable):
    iid = await durable.client.start_new("uses_http")
    status = await durable.done(iid)
    assert status.runtime_status.value == "Failed"
    assert "CallHttp" in status.output
    assert "not supported" in status.output


async def test_unknown_orchestrator_is_refused(durable):
    with pytest.raises(Exception, match="no_such_orchestrator"):
        await durable.client.start_new("no_such_orchestrator")


async def test_retry_fails_twice_then_succeeds(durable):
    job = {"key": "twice", "fail_times": 2}
    iid = await durable.client.start_new("retrying", client_input=job)
    status = await durable.done(iid)
    assert status.output == {"result": "ok after 3 attempts"}
    assert CALLS["flaky:twice"] == 3
    kinds = [e["EventType"] for e in status.historyEvents]
    assert kinds.count("TaskFailed") == 2
    assert kinds.count("TimerFired") == 2


async def test_retry_exhausted_reaches_the_orchestrator(durable):
    job = {"key": "always", "fail_times": 99}
    iid = await durable.client.start_new("retrying", client_input=job)
    status = await durable.done(iid)
    assert "flaky failure 3 of always" in status.output["caught"]
    assert CALLS["flaky:always"] == 3


class _BrokenHost:
    """An invoker whose orchestrator call fails outside the SDK (no $OutOfProcData$ marker)."""

    def __init__(self, inner):
        self.inner = inner

    def orchestrator_names(self):
        return self.inner.orchestrator_names()

    def activity_names(self):
        return self.inner.activity_names()

    async def run_orchestrator(self, name, context_json):
        raise RuntimeError("the worker crashed while loading the function")

    async def run_activity(self, name, input_json):
        return await self.inner.run_activity(name, input_json)


async def _fan_out_on(tmp_path, host) -> dict:
    """One ``fan_out`` instance run to its end on an engine whose host is ``host``."""
    engine = DurableEngine(tmp_path / "d.sqlite3", host)
    await engine.start()
    try:
        iid = await engine.start_new("fan_out", input_json="2")
        return await engine.wait_for_completion(iid, 20)
    finally:
        await engine.stop()


async def test_plain_exception_from_the_host_fails_the_instance(tmp_path, invoker):
    status = await _fan_out_on(tmp_path, _BrokenHost(invoker))
    assert status["runtimeStatus"] == "Failed"
    assert "the worker crashed while loading the function" in status["output"]


class _GarbledHost(_BrokenHost):
    """Answers with a timer action that has no fireAt."""

    async def run_orchestrator(self, name, context_json):
        return '{"isDone": false, "schemaVersion": 2, "actions": [[{"actionType": 5}]]}'


async def test_an_action_the_engine_cannot_read_fails_the_instance(tmp_path, invoker):
    status = await _fan_out_on(tmp_path, _GarbledHost(invoker))
    assert status["runtimeStatus"] == "Failed"
    assert "devstack Durable engine error" in status["output"]
