"""Orchestrators and activities written with the real SDK, one per behaviour under test.

Activity side effects go to ``CALLS`` (in-process tests) so tests can see how often an activity
really ran; ``crash_workflow``'s activities record runs in files (a separate process dies).
"""

from __future__ import annotations

import asyncio
import collections
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df

app = df.DFApp()
CALLS: collections.Counter[str] = collections.Counter()


# ---------------------------------------------------------------- activities
@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    CALLS[f"say_hello:{city}"] += 1
    return f"Hello {city}!"


@app.activity_trigger(input_name="text")
async def shout(text: str) -> str:
    CALLS[f"shout:{text}"] += 1
    return text.upper()


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    CALLS[f"square:{n}"] += 1
    return n * n


@app.activity_trigger(input_name="job")
def flaky(job: dict[str, Any]) -> str:
    """Fails until it has been called ``job['fail_times']`` times for ``job['key']``."""
    key = f"flaky:{job['key']}"
    CALLS[key] += 1
    if CALLS[key] <= job["fail_times"]:
        raise RuntimeError(f"flaky failure {CALLS[key]} of {job['key']}")
    return f"ok after {CALLS[key]} attempts"


GAUGE = {"active": 0, "max": 0}
GATE: dict[str, asyncio.Event] = {}


@app.activity_trigger(input_name="n")
async def gauged(n: int) -> int:
    """Counts how many run at once; each waits for the test to open the gate."""
    GAUGE["active"] += 1
    GAUGE["max"] = max(GAUGE["max"], GAUGE["active"])
    try:
        await GATE.setdefault("gate", asyncio.Event()).wait()
    finally:
        GAUGE["active"] -= 1
    return n


@app.activity_trigger(input_name="n")
async def held(n: int) -> int:
    """Stays in flight until the test opens the "held" gate."""
    CALLS[f"held:{n}"] += 1
    await GATE.setdefault("held", asyncio.Event()).wait()
    return n * 10


# ---------------------------------------------------------------- orchestrators
@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle"]
    out = []
    for city in cities:
        greeting = yield context.call_activity("say_hello", city)
        out.append((yield context.call_activity("shout", greeting)))
    return out


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    try:
        result = yield context.call_activity_with_retry("flaky", options, job)
    except Exception as exc:
        return {"caught": str(exc)}
    return {"result": result}


@app.orchestration_trigger(context_name="context")
def retrying_fan_out(context: df.DurableOrchestrationContext):
    """Retried calls in parallel: their failures, retry timers and new attempts interleave."""
    jobs = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=4)
    tasks = [context.call_activity_with_retry("flaky", options, job) for job in jobs]
    tasks.append(context.call_activity("square", 7))
    results = yield context.task_all(tasks)
    return results


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("flaky", context.get_input()))


@app.orchestration_trigger(context_name="context")
def retrying_parent(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=3)
    result = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", options, context.get_input()
    )
    return result


@app.orchestration_trigger(context_name="context")
def gauged_fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("gauged", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity("square", i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Waits for an 'approve' event, or gives up when a timer (input: seconds) fires first."""
    seconds = context.get_input()
    context.set_custom_status({"stage": "waiting"})
    deadline = context.current_utc_datetime + timedelta(seconds=seconds)
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("approve")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        context.set_custom_status({"stage": "approved"})
        return {"approved": event.result}
    context.set_custom_status({"stage": "timed out"})
    return {"approved": None}


@app.orchestration_trigger(context_name="context")
def race_then_settle(context: df.DurableOrchestrationContext):
    """The image job's cancel: WhenAny of [WhenAll(activities), an external event]. When the
    event wins, each activity still in flight is waited for on its own — an atomic task already
    scheduled, so yielding it again schedules nothing — and then one more activity runs."""
    n = context.get_input()
    stop = context.wait_for_external_event("stop")
    calls = [context.call_activity("held", i) for i in range(n)]
    winner = yield context.task_any([context.task_all(calls), stop])
    if winner != stop:
        return {"winner": "activities", "results": winner.result}
    context.set_custom_status({"stage": "settling"})
    settled = []
    for call in calls:
        settled.append((yield call))
    after = yield context.call_activity("square", n)
    return {"winner": "stop", "reason": stop.result, "settled": settled, "after": after}


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("first")
    second = yield context.wait_for_external_event("second")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    yield context.call_activity("square", n)
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("hello_sequence", ["Oslo"])
    try:
        yield context.call_sub_orchestrator("failing", None, f"{context.instance_id}-bad")
    except Exception as exc:
        return {"child": child, "failure": str(exc)}
    return {"child": child, "failure": None}


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("square", 2)
    raise ValueError("deliberate failure: the input was rejected")


@app.orchestration_trigger(context_name="context")
def uses_http(context: df.DurableOrchestrationContext):
    yield context.call_http("GET", "http://127.0.0.1:9/never")
    return "unreachable"


# ---------------------------------------------------------------- crash test
def _marker_dir() -> Path:
    return Path(os.environ["DURABLE_CRASH_MARKERS"])


@app.activity_trigger(input_name="key")
async def slow_step(key: str) -> str:
    """Records each run; in the first process it never finishes (the process gets killed)."""
    marker = _marker_dir() / f"slow_step-{key}-{os.getpid()}"
    marker.write_text("started")
    if os.environ.get("DURABLE_CRASH_RELEASE") != "1":
        await asyncio.Event().wait()
    return f"done {key}"


@app.orchestration_trigger(context_name="context")
def crash_workflow(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    if spec["kind"] == "activity":
        results = yield context.task_all(
            [context.call_activity("slow_step", f"{spec['id']}-{i}") for i in range(2)]
        )
        return results
    yield context.create_timer(
        context.current_utc_datetime + timedelta(milliseconds=spec["timer_ms"])
    )
    return (yield context.call_activity("say_hello", spec["id"]))
