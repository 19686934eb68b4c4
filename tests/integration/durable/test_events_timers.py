"""External events, durable timers (fired and cancelled), custom status, ContinueAsNew and
sub-orchestrations."""

from __future__ import annotations

import asyncio
import time

import pytest
from azure.durable_functions.models.history import HistoryEventType

from .sample_app import CALLS, GATE


async def test_event_wins_over_timer_and_the_timer_is_cancelled(durable):
    iid = await durable.client.start_new("approval", client_input=300)
    waiting = await durable.wait_for(iid, "Running")
    assert waiting.custom_status == {"stage": "waiting"}
    # The timer is scheduled in the engine until the event arrives.
    assert durable.engine.store.next_timer_at() is not None
    await durable.client.raise_event(iid, "approve", {"by": "ana"})
    status = await durable.done(iid)
    assert status.output == {"approved": {"by": "ana"}}
    assert status.custom_status == {"stage": "approved"}
    # A cancelled timer never fires: nothing is left in the timer queue.
    assert durable.engine.store.next_timer_at() is None
    kinds = [e["EventType"] for e in status.historyEvents]
    assert "TimerFired" not in kinds
    assert "EventRaised" in kinds


async def test_timer_fires_when_no_event_comes(durable):
    iid = await durable.client.start_new("approval", client_input=0.2)
    status = await durable.done(iid)
    assert status.output == {"approved": None}
    assert status.custom_status == {"stage": "timed out"}
    assert "TimerFired" in [e["EventType"] for e in status.historyEvents]


# The SDK warns when an event arrives before its wait: that is the case under test.
@pytest.mark.filterwarnings("ignore:Potential duplicate Task completion")
async def test_events_raised_before_the_wait_are_buffered(durable):
    iid = await durable.client.start_new("two_events")
    # Raised in the opposite order and before the orchestrator waits for "second".
    await durable.client.raise_event(iid, "second", 2)
    await durable.client.raise_event(iid, "first", "one")
    status = await durable.done(iid)
    assert status.output == ["one", 2]


async def test_raise_event_on_unknown_or_finished_instances_fails(durable):
    with pytest.raises(Exception, match="No instance with ID does-not-exist"):
        await durable.client.raise_event("does-not-exist", "x", 1)
    iid = await durable.client.start_new("fan_out", client_input=1)
    await durable.done(iid)
    with pytest.raises(Exception, match="is gone"):
        await durable.client.raise_event(iid, "late", 1)


async def test_continue_as_new_restarts_with_fresh_history(durable):
    iid = await durable.client.start_new("counter", client_input=0)
    status = await durable.done(iid)
    assert status.output == 3
    started = [e for e in status.historyEvents if e["EventType"] == "TaskCompleted"]
    assert len(started) == 1  # only the last execution's history is kept
    assert durable.engine.metrics(iid)["actionsScheduled"] == 4


async def test_sub_orchestrations_return_results_and_failures(durable):
    iid = await durable.client.start_new("parent", instance_id="family-1")
    status = await durable.done(iid)
    assert status.output["child"] == ["HELLO OSLO!"]
    assert "deliberate failure: the input was rejected" in status.output["failure"]
    child = await durable.client.get_status("family-1-bad")
    assert child.runtime_status.value == "Failed"
    kinds = [e["EventType"] for e in status.historyEvents]
    assert "SubOrchestrationInstanceCompleted" in kinds
    assert "SubOrchestrationInstanceFailed" in kinds


async def test_an_event_that_wins_over_activities_in_flight_lets_them_finish_once(durable):
    """WhenAny([WhenAll(activities), event]) won by the event, then each activity task yielded
    again on its own: they finish, nobody schedules them twice, and the next call runs."""
    GATE["held"] = asyncio.Event()
    try:
        iid = await durable.client.start_new("race_then_settle", client_input=2)
        deadline = time.monotonic() + 20
        while CALLS["held:0"] < 1 or CALLS["held:1"] < 1:
            assert time.monotonic() < deadline, "the activities never started"
            await asyncio.sleep(0.01)
        await durable.client.raise_event(iid, "stop", {"reason": "enough"})
        settling = await durable.wait_for(iid, "Running")
        while settling.custom_status != {"stage": "settling"}:
            assert time.monotonic() < deadline, "the event never won"
            await asyncio.sleep(0.01)
            settling = await durable.client.get_status(iid)
        GATE["held"].set()
        status = await durable.done(iid)
    finally:
        GATE["held"].set()
    assert status.output == {
        "winner": "stop",
        "reason": {"reason": "enough"},
        "settled": [0, 10],
        "after": 4,
    }
    assert CALLS["held:0"] == 1
    assert CALLS["held:1"] == 1
    completed = [e for e in status.historyEvents if e["EventType"] == "TaskCompleted"]
    assert sorted(e["FunctionName"] for e in completed) == ["held", "held", "square"]
    stored = durable.engine.store.load_history(iid)  # the engine's own, TaskScheduled included
    scheduled = [e["Name"] for e in stored if e["EventType"] == HistoryEventType.TASK_SCHEDULED]
    assert scheduled == ["held", "held", "square"]
    assert durable.engine.metrics(iid)["actionsScheduled"] == 3
