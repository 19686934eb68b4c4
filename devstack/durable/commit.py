"""Recording one episode's outcome: the history it adds and the work it queues, in one go.

Called inside the episode's transaction, so after a crash the store holds the whole episode or
none of it. This is where the orchestrator's new actions become activity rows, timers and child
instances, where retries are scheduled, and where an execution that ended is finished (its queued
work dropped, its parent told) or continued as new.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.durable_functions.models.actions import ActionType
from azure.durable_functions.models.history import HistoryEventType

from devstack.durable import actions as A
from devstack.durable.errors import EngineError
from devstack.durable.history import Event, event, iso_precise, parse_iso
from devstack.durable.instances import create_instance, execution_started
from devstack.durable.store import InboxRow, Instance, Store, json_text_or_none

log = logging.getLogger("devstack.durable")


class EpisodeRecorder:
    """Writes episodes to one store; ``orchestrator_names`` tells which sub-orchestrations exist."""

    def __init__(self, store: Store, orchestrator_names: Callable[[], set[str]]) -> None:
        self.store = store
        self.orchestrator_names = orchestrator_names

    def commit(
        self,
        inst: Instance,
        batch: list[InboxRow],
        old: list[Event],
        new_events: list[Event],
        outcome: A.Outcome,
        now: float,
    ) -> None:
        """Inside a transaction: append the episode's history, queue its work, consume ``batch``."""
        st = self.store
        iid = inst.instance_id
        emitted: list[Event] = []
        next_id = inst.next_task_id
        flat_ids: list[int | None] = json.loads(inst.flat_ids)
        scheduled = 0
        failure = outcome.error
        failure_details = outcome.error

        if failure is None and len(batch) == 1 and batch[0].retry is not None:
            retry = batch[0].retry
            kind = batch[0].event["EventType"]
            if kind in (
                HistoryEventType.TASK_FAILED,
                HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
            ):
                timer_id, next_id = next_id, next_id + 1
                fire = now + A.retry_delay_seconds(retry["options"], retry["attempt"])
                emitted.append(
                    event(HistoryEventType.TIMER_CREATED, now, timer_id, FireAt=iso_precise(fire))
                )
                st.add_timer(iid, inst.execution_id, timer_id, fire, iso_precise(fire), retry)
                scheduled += 1
            elif kind == HistoryEventType.TIMER_FIRED:
                max_attempts = int(retry["options"].get("maxNumberOfAttempts") or 1)
                if retry["attempt"] < max_attempts:
                    task_id, next_id = next_id, next_id + 1
                    again = {**retry, "attempt": retry["attempt"] + 1}
                    emitted.append(self._schedule_call(inst, task_id, again, now))
                    scheduled += 1

        continue_as_new: dict[str, Any] | None = None
        if failure is None:
            for action in A.flatten(outcome.actions[inst.actions_handled :]):
                reason = A.unsupported_reason(action)
                if reason is not None:
                    failure = failure_details = reason
                    break
                kind = action["actionType"]
                if kind in (ActionType.WAIT_FOR_EXTERNAL_EVENT, ActionType.CONTINUE_AS_NEW):
                    flat_ids.append(None)
                    if kind == ActionType.CONTINUE_AS_NEW:
                        continue_as_new = action
                    continue
                task_id, next_id = next_id, next_id + 1
                flat_ids.append(task_id)
                scheduled += 1
                if kind == ActionType.CREATE_TIMER:
                    fire_text = action["fireAt"]
                    emitted.append(
                        event(HistoryEventType.TIMER_CREATED, now, task_id, FireAt=fire_text)
                    )
                    if not action.get("isCanceled"):
                        st.add_timer(
                            iid, inst.execution_id, task_id, parse_iso(fire_text), fire_text
                        )
                    continue
                call = {
                    "kind": "activity"
                    if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY)
                    else "orchestrator",
                    "name": action.get("functionName"),
                    "input": action.get("input"),
                    "instanceId": action.get("instanceId"),
                    "attempt": 1,
                }
                if kind in (
                    ActionType.CALL_ACTIVITY_WITH_RETRY,
                    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
                ):
                    call["options"] = action.get("retryOptions") or {}
                emitted.append(self._schedule_call(inst, task_id, call, now))
            # Timers the orchestrator cancelled (when_any won by something else) never fire.
            for action, known_id in zip(A.flatten(outcome.actions), flat_ids, strict=False):
                if (
                    action.get("actionType") == ActionType.CREATE_TIMER
                    and action.get("isCanceled")
                    and known_id is not None
                ):
                    st.cancel_timer(iid, inst.execution_id, known_id)

        fields: dict[str, Any] = {
            "next_task_id": next_id,
            "flat_ids": json.dumps(flat_ids),
            "actions_handled": len(outcome.actions),
            "last_updated_time": now,
            "episodes": inst.episodes + 1,
            "actions_scheduled": inst.actions_scheduled + scheduled,
        }
        if outcome.custom_status is not None or failure is None:
            fields["custom_status"] = json_text_or_none(outcome.custom_status)

        if failure is not None:
            message = f"Orchestrator function '{inst.name}' failed: {failure}"
            emitted.append(
                event(
                    HistoryEventType.EXECUTION_COMPLETED,
                    now,
                    OrchestrationStatus="Failed",
                    Result=message,
                    FailureDetails={"ErrorType": "Exception", "ErrorMessage": failure_details},
                )
            )
            fields.update(status="Failed", output=json.dumps(message))
            self.finish(inst, completed=False, result=message, details=failure_details or "")
        elif outcome.is_done and continue_as_new is not None:
            self._continue_as_new(inst, continue_as_new.get("input"), fields)
            st.delete_inbox([r.id for r in batch])
            st.update_instance(iid, **fields)
            return
        elif outcome.is_done:
            output_json = json.dumps(outcome.output)
            emitted.append(
                event(
                    HistoryEventType.EXECUTION_COMPLETED,
                    now,
                    OrchestrationStatus="Completed",
                    Result=output_json,
                )
            )
            fields.update(status="Completed", output=output_json)
            self.finish(inst, completed=True, result=output_json, details="")
        else:
            fields["status"] = "Running"
        if fields["status"] != "Running":
            log.info("durable: %s (%s) %s", iid, inst.name, fields["status"])
        emitted.append(event(HistoryEventType.ORCHESTRATOR_COMPLETED, now))
        written = st.append_history(iid, len(old), new_events + emitted)
        fields["history_bytes"] = inst.history_bytes + written
        st.delete_inbox([r.id for r in batch])
        st.update_instance(iid, **fields)

    def finish(self, inst: Instance, *, completed: bool, result: str, details: str) -> None:
        """An execution ended: drop its queued work and tell the parent, if any."""
        self.store.drop_execution_work(inst.instance_id)
        if inst.parent_instance_id is None or inst.parent_task_id is None:
            return
        now = time.time()
        if completed:
            ev = event(
                HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                now,
                TaskScheduledId=inst.parent_task_id,
                Result=result,
            )
            retry = None
        else:
            ev = event(
                HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                now,
                TaskScheduledId=inst.parent_task_id,
                Reason=result,
                Details=details,
            )
            retry = None if inst.parent_retry is None else json.loads(inst.parent_retry)
        self.store.push_inbox(inst.parent_instance_id, inst.parent_execution_id, "event", ev, retry)

    def _schedule_call(
        self, inst: Instance, task_id: int, call: dict[str, Any], now: float
    ) -> Event:
        """Queue an activity or create a child instance; returns the event that records it."""
        retry = call if "options" in call else None
        if call["kind"] == "activity":
            self.store.add_activity(
                inst.instance_id,
                inst.execution_id,
                task_id,
                call["name"],
                call["input"],
                retry,
            )
            return event(
                HistoryEventType.TASK_SCHEDULED,
                now,
                task_id,
                Name=call["name"],
                Input=call["input"],
            )
        child_id = call.get("instanceId") or f"{inst.instance_id}:{task_id}"
        try:
            if call["name"] not in self.orchestrator_names():
                raise EngineError(
                    400, f"The function '{call['name']}' is not an orchestrator function."
                )
            create_instance(
                self.store,
                call["name"],
                child_id,
                call["input"],
                parent=inst,
                parent_task_id=task_id,
                parent_retry=retry,
            )
        except EngineError as exc:
            self.store.push_inbox(
                inst.instance_id,
                inst.execution_id,
                "event",
                event(
                    HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                    now,
                    TaskScheduledId=task_id,
                    Reason=exc.message,
                    Details=exc.message,
                ),
                retry,
            )
        return event(
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
            now,
            task_id,
            Name=call["name"],
            InstanceId=child_id,
            Input=call["input"],
        )

    def _continue_as_new(
        self, inst: Instance, input_json: str | None, fields: dict[str, Any]
    ) -> None:
        """Start the next execution of ``inst`` with a fresh history; ``fields`` gets its row."""
        st = self.store
        st.drop_execution_work(inst.instance_id)
        st.clear_history(inst.instance_id)
        execution_id = uuid.uuid4().hex
        parent = st.get_instance(inst.parent_instance_id) if inst.parent_instance_id else None
        st.push_inbox(
            inst.instance_id,
            execution_id,
            "event",
            execution_started(
                inst.name, inst.instance_id, execution_id, input_json, parent, inst.parent_task_id
            ),
        )
        fields.update(
            status="ContinuedAsNew",
            execution_id=execution_id,
            input=input_json,
            output=None,
            next_task_id=0,
            flat_ids="[]",
            actions_handled=0,
            history_bytes=0,
        )
