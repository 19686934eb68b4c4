"""Creating an instance and its ExecutionStarted event.

Starting and restarting (client API), calling a sub-orchestration and ContinueAsNew (episode
commit) all begin an execution the same way; this is that one way.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from azure.durable_functions.models.history import HistoryEventType

from devstack.durable.errors import EngineError
from devstack.durable.history import Event, event
from devstack.durable.store import Instance, Store, json_text_or_none


def create_instance(
    store: Store,
    name: str,
    iid: str,
    input_json: str | None,
    *,
    parent: Instance | None = None,
    parent_task_id: int | None = None,
    parent_retry: dict[str, Any] | None = None,
) -> None:
    """Inside a transaction: a new Pending instance whose inbox starts with ExecutionStarted."""
    existing = store.get_instance(iid)
    if existing is not None and not existing.terminal:
        raise EngineError(
            409,
            f"An Orchestration instance with the status {existing.status} already exists.",
        )
    if existing is not None:
        store.delete_instance_data(iid)
    now = time.time()
    execution_id = uuid.uuid4().hex
    store.insert_instance(
        Instance(
            instance_id=iid,
            name=name,
            execution_id=execution_id,
            status="Pending",
            input=input_json,
            output=None,
            custom_status=None,
            created_time=now,
            last_updated_time=now,
            parent_instance_id=parent.instance_id if parent else None,
            parent_execution_id=parent.execution_id if parent else None,
            parent_task_id=parent_task_id,
            parent_retry=json_text_or_none(parent_retry),
            next_task_id=0,
            flat_ids="[]",
            actions_handled=0,
            actions_scheduled=0,
            episodes=0,
            history_bytes=0,
        )
    )
    store.push_inbox(
        iid,
        execution_id,
        "event",
        execution_started(name, iid, execution_id, input_json, parent, parent_task_id),
    )


def execution_started(
    name: str,
    iid: str,
    execution_id: str,
    input_json: str | None,
    parent: Instance | None,
    parent_task_id: int | None,
) -> Event:
    """The first event of an execution, with the parent link a sub-orchestration replays."""
    parent_info = None
    if parent is not None:
        parent_info = {
            "Name": parent.name,
            "TaskScheduleId": parent_task_id,
            "OrchestrationInstance": {
                "InstanceId": parent.instance_id,
                "ExecutionId": parent.execution_id,
            },
        }
    return event(
        HistoryEventType.EXECUTION_STARTED,
        time.time(),
        Name=name,
        Version="",
        Input=input_json,
        OrchestrationInstance={"InstanceId": iid, "ExecutionId": execution_id},
        ParentInstance=parent_info,
    )
