"""The loader as the Durable engine uses it: the real SDK's orchestrator replay and activities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.host.loader import LoadedApp
from devstack.host.settings import HostSettings, apply_local_settings, parse_timespan

DURABLE_APP = Path(__file__).resolve().parent / "durable_app"
TS = "2026-01-01T00:00:00.000000Z"


@pytest.fixture(scope="module")
def durable_app():
    loaded = LoadedApp(DURABLE_APP, module_name="durable_sample")
    yield loaded
    loaded.close()


def _event(event_type: int, event_id: int = -1, **fields) -> dict:
    return {
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": TS,
    } | fields


def _context(history: list[dict], payload: dict) -> str:
    return json.dumps(
        {
            "history": history,
            "input": json.dumps(payload),
            "instanceId": "abc",
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )


def test_durable_functions_are_found_by_kind(durable_app):
    assert durable_app.orchestrator_names() == {"shouting"}
    assert durable_app.activity_names() == {"shout", "echo_raw"}
    assert durable_app.uses_durable


async def test_orchestrator_replay_schedules_then_completes(durable_app):
    started = [
        _event(12),
        _event(0, Name="shouting", Version="", Input=json.dumps({"name": "badger"})),
    ]
    state = json.loads(
        await durable_app.run_orchestrator("shouting", _context(started, {"name": "badger"}))
    )
    assert state["isDone"] is False
    action = state["actions"][0][0]
    assert action["functionName"] == "shout"
    assert json.loads(action["input"]) == {"text": "hello badger"}

    result = json.dumps({"text": "HELLO BADGER", "length": 12})
    history = [
        *started,
        _event(4, 0, Name="shout"),
        _event(13),
        _event(12),
        _event(5, TaskScheduledId=0, Result=result),
    ]
    state = json.loads(
        await durable_app.run_orchestrator("shouting", _context(history, {"name": "badger"}))
    )
    assert state["isDone"] is True
    assert state["output"] == {"text": "HELLO BADGER", "length": 12}
    assert state["customStatus"] == {"stage": "shouted"}


async def test_activity_input_is_decoded_and_result_encoded(durable_app):
    out = await durable_app.run_activity("shout", json.dumps({"text": "hi"}))
    assert json.loads(out) == {"text": "HI", "length": 2}
    # Input that is not JSON reaches the function as the raw string, as in the worker.
    assert json.loads(await durable_app.run_activity("echo_raw", "not json")) == "not json"


async def test_failing_activity_raises_for_the_engine(durable_app):
    with pytest.raises(ValueError, match="already shouting"):
        await durable_app.run_activity("shout", json.dumps({"text": "hi!"}))


async def test_unknown_function_is_refused(durable_app):
    with pytest.raises(LookupError):
        await durable_app.run_activity("shouting", "{}")


def test_local_settings_fall_back_to_sample_and_never_override_env(tmp_path):
    (tmp_path / "local.settings.sample.json").write_text(
        json.dumps({"Values": {"A": "sample", "B": "sample"}})
    )
    env = {"B": "env"}
    apply_local_settings(tmp_path, env)
    assert env == {"A": "sample", "B": "env"}
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"A": "local", "C": "x"}}))
    env = {}
    apply_local_settings(tmp_path, env)
    assert env == {"A": "local", "C": "x"}


def test_host_json_settings():
    s = HostSettings.from_host_json(
        {
            "extensions": {
                "http": {"routePrefix": ""},
                "durableTask": {"hubName": "Hub", "maxConcurrentActivityFunctions": 3},
                "queues": {"visibilityTimeout": "00:00:30", "messageEncoding": "none"},
            }
        }
    )
    assert (s.route_prefix, s.hub_name, s.max_concurrent_activities) == ("", "Hub", 3)
    assert (s.queues.visibility_timeout, s.queues.message_encoding) == (30.0, "none")
    assert parse_timespan("1.02:00:00.5") == 93600.5
