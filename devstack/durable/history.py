"""History events in the shape the Python SDK replays and the shape the status API shows.

Two renderings of one event list: the replay form (integer ``EventType``, ``IsPlayed``, JSON-in-JSON
payloads) goes to the orchestrator; the public form (string ``EventType``, scheduling events folded
into their completions, parsed results) is what ``showHistory=true`` answers, as the real extension
does in ``DurableOrchestrationClient.GetDurableOrchestrationStatusAsync``. Event kinds are the
SDK's own ``HistoryEventType``, so the numbers cannot drift from what it replays.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from azure.durable_functions.models.history import HistoryEventType

Event = dict[str, Any]


def pascal_case(sdk_name: str) -> str:
    """``TASK_SCHEDULED`` -> ``TaskScheduled``: the SDK's enum member names as the extension spells
    them in the status API and in error messages."""
    return "".join(part.capitalize() for part in sdk_name.split("_"))


PUBLIC_NAMES = {kind: pascal_case(kind.name) for kind in HistoryEventType}


def iso_precise(ts: float) -> str:
    """Event timestamps and timer fireAt: microseconds, as the SDK formats them."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(ts: float) -> str:
    """Status JSON timestamps: ``yyyy-MM-ddTHH:mm:ssZ`` like the real extension."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 time (``Z`` or offset; naive means UTC) to epoch seconds."""
    dt = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def event(kind: HistoryEventType, ts: float, event_id: int = -1, **fields: Any) -> Event:
    """A replay-form event; ``IsPlayed`` is set per episode when the context is built."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso_precise(ts),
        **fields,
    }


def _parse_json_text(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


_STATUS_NAMES = {
    "Completed": "Completed",
    "Failed": "Failed",
    "Terminated": "Terminated",
    "ContinueAsNew": "ContinuedAsNew",
}


def public_history(events: list[Event], show_output: bool) -> list[Event]:
    """The ``historyEvents`` array the status API returns."""
    scheduled: dict[tuple[HistoryEventType, int], tuple[int, Event]] = {}
    drop: set[int] = set()
    out: list[Event | None] = []
    for i, raw in enumerate(events):
        item = dict(raw)
        kind = HistoryEventType(item["EventType"])
        item["EventType"] = PUBLIC_NAMES[kind]
        if kind in (HistoryEventType.ORCHESTRATOR_STARTED, HistoryEventType.ORCHESTRATOR_COMPLETED):
            drop.add(i)
        elif kind in (
            HistoryEventType.TASK_SCHEDULED,
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
        ):
            scheduled[(kind, item["EventId"])] = (i, raw)
            item.pop("Input", None)
            item.pop("Version", None)
        elif kind in (
            HistoryEventType.TASK_COMPLETED,
            HistoryEventType.TASK_FAILED,
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
        ):
            scheduled_kind = (
                HistoryEventType.TASK_SCHEDULED
                if kind in (HistoryEventType.TASK_COMPLETED, HistoryEventType.TASK_FAILED)
                else HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED
            )
            found = scheduled.get((scheduled_kind, item.get("TaskScheduledId", -2)))
            if found is not None:
                idx, sched = found
                item["ScheduledTime"] = sched["Timestamp"]
                item["FunctionName"] = sched.get("Name")
                drop.add(idx)
            item.pop("TaskScheduledId", None)
            if "Result" in item:
                if show_output:
                    item["Result"] = _parse_json_text(item["Result"])
                else:
                    item.pop("Result")
        elif kind is HistoryEventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags", "Input"):
                item.pop(key, None)
        elif kind is HistoryEventType.EXECUTION_COMPLETED:
            item["OrchestrationStatus"] = _STATUS_NAMES.get(
                item.get("OrchestrationStatus", ""), item.get("OrchestrationStatus")
            )
            if show_output:
                item["Result"] = _parse_json_text(item.get("Result"))
            else:
                item.pop("Result", None)
        elif kind is HistoryEventType.TIMER_FIRED:
            item.pop("TimerId", None)
        elif kind in (HistoryEventType.EVENT_RAISED, HistoryEventType.EXECUTION_TERMINATED):
            item.pop("Input", None)
        item.pop("EventId", None)
        item.pop("IsPlayed", None)
        out.append(item)
    return [e for i, e in enumerate(out) if i not in drop and e is not None]
