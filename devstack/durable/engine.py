"""The Durable engine: replays orchestrators episode by episode and runs what they ask for.

It plays the part of the Durable extension + DTFx for one machine. Three dispatchers share one
event loop: orchestration episodes (one at a time per instance), activity executions, and a timer
scheduler that sleeps until the earliest ``fireAt`` (no polling). Their queues live in SQLite
(``store.py``), so a restart after ``kill -9`` carries on where the database says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import traceback
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp.web

from devstack.durable import actions as A
from devstack.durable.history import Event, EventType, event, iso_precise, iso_seconds, parse_iso
from devstack.durable.history import public_history as render_history
from devstack.durable.invoker import FunctionInvoker
from devstack.durable.store import CONTROL_KINDS, InboxRow, Instance, Store

log = logging.getLogger("devstack.durable")

RUNTIME_STATUSES = (
    "Pending",
    "Running",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Terminated",
    "Suspended",
)


class EngineError(Exception):
    """A client request the engine refuses; ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_text_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _parse_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def normalise_json_body(raw: bytes) -> str | None:
    """Client bodies are JSON encoded twice (the SDK posts ``json=json.dumps(x)``): return the
    inner JSON text. A body encoded once (curl) is accepted too."""
    if not raw.strip():
        return None
    try:
        outer = json.loads(raw)
    except ValueError as exc:
        raise EngineError(400, "Only application/json request content is supported") from exc
    if isinstance(outer, str):
        try:
            json.loads(outer)
        except ValueError:
            return json.dumps(outer)
        return outer
    return json.dumps(outer)


def status_json(inst: Instance, show_input: bool = True) -> dict[str, Any]:
    """An instance as the status API shows it (timestamps to the second, as the extension)."""
    return {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status,
        "input": _parse_or_none(inst.input) if show_input else None,
        "customStatus": _parse_or_none(inst.custom_status),
        "output": _parse_or_none(inst.output),
        "createdTime": iso_seconds(inst.created_time),
        "lastUpdatedTime": iso_seconds(inst.last_updated_time),
    }


class DurableEngine:
    """A Durable Functions backend persisted in one SQLite file. See docs/durable-engine.md."""

    def __init__(
        self,
        db_path: Path,
        invoker: FunctionInvoker,
        *,
        task_hub: str = "TestHubName",
        max_concurrent_activities: int = 10,
        max_concurrent_orchestrations: int = 10,
    ) -> None:
        self.db_path = Path(db_path)
        self.invoker = invoker
        self.task_hub = task_hub
        self.max_concurrent_activities = max(1, max_concurrent_activities)
        self.max_concurrent_orchestrations = max(1, max_concurrent_orchestrations)
        self._store: Store | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._running_instances: set[str] = set()
        self._broken: set[str] = set()
        self._inflight_activities: set[int] = set()
        self._activity_cursor = 0
        self._changed = asyncio.Event()
        self._orch_wake = asyncio.Event()
        self._act_wake = asyncio.Event()
        self._timer_wake = asyncio.Event()
        self._orch_sem = asyncio.Semaphore(self.max_concurrent_orchestrations)
        self._act_sem = asyncio.Semaphore(self.max_concurrent_activities)

    # ------------------------------------------------------------------ lifecycle
    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("DurableEngine.start() has not been awaited")
        return self._store

    async def start(self) -> None:
        """Open the database and resume every unfinished instance from its queues."""
        if self._store is not None:
            return
        self._store = Store(self.db_path)
        self._activity_cursor = 0
        self._loops = [
            asyncio.create_task(self._orchestration_loop(), name="durable-orchestrations"),
            asyncio.create_task(self._activity_loop(), name="durable-activities"),
            asyncio.create_task(self._timer_loop(), name="durable-timers"),
        ]
        self._orch_wake.set()
        self._act_wake.set()
        self._timer_wake.set()

    async def stop(self) -> None:
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(BaseException):
                await task
        self._loops = []
        self._tasks.clear()
        self._running_instances.clear()
        self._inflight_activities.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _notify_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ HTTP
    def add_routes(
        self, app: aiohttp.web.Application, prefix: str = "/runtime/webhooks/durabletask"
    ) -> None:
        """Serve the Durable HTTP API (what the client SDK calls) under ``prefix``."""
        from devstack.durable.http_api import add_routes

        self.route_prefix = prefix.rstrip("/")
        add_routes(self, app, self.route_prefix)

    def client_binding_json(self, base_url: str) -> str:
        """The durableClient binding value the host passes (by keyword) to client functions."""
        prefix = getattr(self, "route_prefix", "/runtime/webhooks/durabletask")
        base = base_url.rstrip("/") + prefix
        qs = f"taskHub={self.task_hub}&connection=Storage"
        inst = f"{base}/instances/INSTANCEID"
        return json.dumps(
            {
                "taskHubName": self.task_hub,
                "creationUrls": {
                    "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    f"[/{{instanceId}}]?{qs}",
                    "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/"
                    f"{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{qs}",
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": f"{inst}?{qs}",
                    "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{qs}",
                    "terminatePostUri": f"{inst}/terminate?reason={{text}}&{qs}",
                    "rewindPostUri": f"{inst}/rewind?reason={{text}}&{qs}",
                    "purgeHistoryDeleteUri": f"{inst}?{qs}",
                    "restartPostUri": f"{inst}/restart?{qs}",
                    "suspendPostUri": f"{inst}/suspend?reason={{text}}&{qs}",
                    "resumePostUri": f"{inst}/resume?reason={{text}}&{qs}",
                },
                "baseUrl": base,
                "requiredQueryStringParameters": qs,
                "rpcBaseUrl": base + "/",
                "httpBaseUrl": "",
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    # ------------------------------------------------------------------ client operations
    async def start_new(
        self, name: str, instance_id: str | None = None, input_json: str | None = None
    ) -> str:
        """Create (or overwrite a finished) instance; ``input_json`` is the input's JSON text."""
        if name not in self.invoker.orchestrator_names():
            raise EngineError(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function. Additional info: the devstack host found no orchestrationTrigger "
                "function of that name.",
            )
        iid = instance_id or uuid.uuid4().hex
        if iid.startswith("@") or len(iid) > 256:
            raise EngineError(400, "Instance ids must not start with @ nor exceed 256 characters.")
        with self.store.tx():
            self._create_instance(name, iid, input_json)
        self._orch_wake.set()
        self._notify_changed()
        return iid

    def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = True,
    ) -> dict[str, Any] | None:
        """The status JSON the API returns, or None for an unknown instance."""
        inst = self.store.get_instance(instance_id)
        if inst is None:
            return None
        status = self._status_json(inst, show_input)
        if show_history:
            status["historyEvents"] = render_history(
                self.store.load_history(instance_id), show_history_output
            )
        return status

    def list_statuses(
        self,
        created_from: float | None = None,
        created_to: float | None = None,
        statuses: list[str] | None = None,
        prefix: str | None = None,
        show_input: bool = True,
    ) -> list[dict[str, Any]]:
        return [
            self._status_json(i, show_input)
            for i in self.store.query_instances(created_from, created_to, statuses, prefix)
        ]

    async def raise_event(self, instance_id: str, name: str, data_json: str | None) -> None:
        inst = self._require(instance_id)
        if inst.terminal:
            raise EngineError(410, f"Instance {instance_id} is in the {inst.status} state.")
        with self.store.tx():
            self.store.push_inbox(
                instance_id,
                None,
                "event",
                event(EventType.EventRaised, time.time(), Name=name, Input=data_json),
            )
        self._orch_wake.set()

    async def terminate(self, instance_id: str, reason: str = "") -> None:
        await self._control_request(instance_id, "terminate", reason)

    async def suspend(self, instance_id: str, reason: str = "") -> None:
        await self._control_request(instance_id, "suspend", reason)

    async def resume(self, instance_id: str, reason: str = "") -> None:
        await self._control_request(instance_id, "resume", reason)

    async def _control_request(self, instance_id: str, kind: str, reason: str) -> None:
        inst = self._require(instance_id)
        if inst.terminal:
            raise EngineError(410, f"Instance {instance_id} is in the {inst.status} state.")
        with self.store.tx():
            self.store.push_inbox(instance_id, None, kind, {"reason": reason})
        self._orch_wake.set()

    async def restart(self, instance_id: str, new_instance_id: bool = True) -> str:
        inst = self._require(instance_id)
        if not new_instance_id and not inst.terminal:
            raise EngineError(
                400, f"Instance {instance_id} is {inst.status}: restart needs a finished instance."
            )
        return await self.start_new(
            inst.name, None if new_instance_id else instance_id, self._original_input(inst)
        )

    def purge(self, instance_id: str) -> int:
        """Delete a finished instance and its history; returns how many were deleted (0 or 1)."""
        inst = self.store.get_instance(instance_id)
        if inst is None or not inst.terminal:
            return 0
        with self.store.tx():
            self.store.delete_instance_data(instance_id)
        return 1

    def purge_by(
        self,
        created_from: float | None = None,
        created_to: float | None = None,
        statuses: list[str] | None = None,
    ) -> int:
        wanted = [s for s in (statuses or ["Completed", "Failed", "Terminated"])]
        targets = [
            i for i in self.store.query_instances(created_from, created_to, wanted) if i.terminal
        ]
        with self.store.tx():
            for inst in targets:
                self.store.delete_instance_data(inst.instance_id)
        return len(targets)

    async def wait_for_completion(
        self,
        instance_id: str,
        timeout: float,  # noqa: ASYNC109 - the brief's API: a deadline, not a scope
    ) -> dict[str, Any]:
        """Wait (event-driven, no polling) until the instance is Completed/Failed/Terminated."""
        deadline = time.monotonic() + timeout
        while True:
            changed = self._changed
            status = self.get_status(instance_id)
            if status is None:
                raise EngineError(404, f"No instance with ID '{instance_id}' found.")
            if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"instance {instance_id} still {status['runtimeStatus']} after {timeout}s"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def metrics(self, instance_id: str) -> dict[str, Any] | None:
        """Benchmark figures: actions scheduled (all executions) and current history size."""
        inst = self.store.get_instance(instance_id)
        if inst is None:
            return None
        return {
            "instanceId": inst.instance_id,
            "runtimeStatus": inst.status,
            "actionsScheduled": inst.actions_scheduled,
            "episodes": inst.episodes,
            "historyEvents": len(self.store.load_history(instance_id)),
            "historyBytes": inst.history_bytes,
        }

    # ------------------------------------------------------------------ helpers
    def _require(self, instance_id: str) -> Instance:
        inst = self.store.get_instance(instance_id)
        if inst is None:
            raise EngineError(404, f"No instance with ID '{instance_id}' found.")
        return inst

    def _original_input(self, inst: Instance) -> str | None:
        for ev in self.store.load_history(inst.instance_id):
            if ev["EventType"] == EventType.ExecutionStarted:
                value = ev.get("Input")
                return value if isinstance(value, str) or value is None else json.dumps(value)
        return inst.input

    def _status_json(self, inst: Instance, show_input: bool) -> dict[str, Any]:
        return status_json(inst, show_input)

    def _create_instance(
        self,
        name: str,
        iid: str,
        input_json: str | None,
        *,
        parent: Instance | None = None,
        parent_task_id: int | None = None,
        parent_retry: dict[str, Any] | None = None,
    ) -> None:
        """Inside a transaction: a new Pending instance whose inbox starts with ExecutionStarted."""
        st = self.store
        existing = st.get_instance(iid)
        if existing is not None and not existing.terminal:
            raise EngineError(
                409,
                f"An Orchestration instance with the status {existing.status} already exists.",
            )
        if existing is not None:
            st.delete_instance_data(iid)
        now = time.time()
        execution_id = uuid.uuid4().hex
        st.insert_instance(
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
                parent_retry=_json_text_or_none(parent_retry),
                next_task_id=0,
                flat_ids="[]",
                actions_handled=0,
                actions_scheduled=0,
                episodes=0,
                history_bytes=0,
            )
        )
        st.push_inbox(
            iid,
            execution_id,
            "event",
            self._execution_started(name, iid, execution_id, input_json, parent, parent_task_id),
        )

    @staticmethod
    def _execution_started(
        name: str,
        iid: str,
        execution_id: str,
        input_json: str | None,
        parent: Instance | None,
        parent_task_id: int | None,
    ) -> Event:
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
            EventType.ExecutionStarted,
            time.time(),
            Name=name,
            Version="",
            Input=input_json,
            OrchestrationInstance={"InstanceId": iid, "ExecutionId": execution_id},
            ParentInstance=parent_info,
        )

    # ------------------------------------------------------------------ dispatchers
    async def _orchestration_loop(self) -> None:
        while True:
            self._orch_wake.clear()
            for iid in self.store.instances_with_work():
                if iid in self._running_instances or iid in self._broken:
                    continue
                self._running_instances.add(iid)
                self._spawn(self._drive_instance(iid))
            await self._orch_wake.wait()

    async def _drive_instance(self, iid: str) -> None:
        progressed_once = False
        try:
            while True:
                async with self._orch_sem:
                    progressed = await self._run_episode(iid)
                if not progressed:
                    break
                progressed_once = True
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("durable engine: instance %s is stuck after an internal error", iid)
            self._broken.add(iid)
        finally:
            self._running_instances.discard(iid)
            # Events that arrived while this driver ran were skipped by the dispatcher: look
            # again. (With no progress there is no await between the last read and here.)
            if progressed_once:
                self._orch_wake.set()

    async def _activity_loop(self) -> None:
        while True:
            self._act_wake.clear()
            for row in self.store.pending_activities(self._activity_cursor):
                self._activity_cursor = max(self._activity_cursor, row.id)
                self._inflight_activities.add(row.id)
                self._spawn(self._run_activity(row))
            await self._act_wake.wait()

    async def _run_activity(self, row: Any) -> None:
        try:
            retry = None
            async with self._act_sem:
                try:
                    result = await self.invoker.run_activity(row.name, row.input)
                    ev = event(EventType.TaskCompleted, time.time(), TaskScheduledId=row.task_id)
                    ev["Result"] = result
                except Exception as exc:
                    ev = event(
                        EventType.TaskFailed,
                        time.time(),
                        TaskScheduledId=row.task_id,
                        Reason=f"Activity function '{row.name}' failed: "
                        f"{type(exc).__name__}: {exc}",
                        Details="".join(traceback.format_exception(exc)),
                    )
                    retry = row.retry
            with self.store.tx():
                if self.store.take_activity(row.id):
                    self.store.push_inbox(row.instance_id, row.execution_id, "event", ev, retry)
            self._orch_wake.set()
        finally:
            self._inflight_activities.discard(row.id)

    async def _timer_loop(self) -> None:
        while True:
            self._timer_wake.clear()
            now = time.time()
            due = self.store.due_timers(now)
            if due:
                with self.store.tx():
                    for row in due:
                        self.store.delete_timer(row["id"])
                        self.store.push_inbox(
                            row["instance_id"],
                            row["execution_id"],
                            "event",
                            event(
                                EventType.TimerFired,
                                now,
                                TimerId=row["timer_id"],
                                FireAt=row["fire_at_text"],
                            ),
                            None if row["retry"] is None else json.loads(row["retry"]),
                        )
                self._orch_wake.set()
            nxt = self.store.next_timer_at()
            timeout = None if nxt is None else max(0.0, nxt - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout)

    # ------------------------------------------------------------------ episodes
    def _pick_batch(self, inst: Instance, rows: list[InboxRow]) -> list[InboxRow]:
        """Events for one episode: a retry event alone, else every event up to the next one."""
        first = rows[0]
        if first.retry is not None:
            return [first]
        batch: list[InboxRow] = []
        for row in rows:
            if row.kind in CONTROL_KINDS or row.retry is not None:
                break
            batch.append(row)
        # history[1] must be ExecutionStarted: it goes first in a fresh execution's first episode.
        batch.sort(key=lambda r: r.event["EventType"] != EventType.ExecutionStarted)
        return batch

    async def _run_episode(self, iid: str) -> bool:
        st = self.store
        rows = st.inbox_for(iid)
        if not rows:
            return False
        inst = st.get_instance(iid)
        if inst is None or inst.terminal:
            with st.tx():
                st.delete_inbox([r.id for r in rows])
            return False
        stale = [r.id for r in rows if r.execution_id not in (None, inst.execution_id)]
        if stale:
            with st.tx():
                st.delete_inbox(stale)
            rows = [r for r in rows if r.id not in stale]
            if not rows:
                return False
        controls = [r for r in rows if r.kind in CONTROL_KINDS]
        if rows[0].kind in CONTROL_KINDS or (inst.status == "Suspended" and controls):
            self._apply_control(inst, controls[0])
            return True
        if inst.status == "Suspended":
            return False
        batch = self._pick_batch(inst, rows)
        if not batch:
            return False
        old = st.load_history(iid)
        if not old and batch[0].event["EventType"] != EventType.ExecutionStarted:
            # Events that arrived before a fresh execution started wait for its first episode.
            return False
        for ev in old:
            ev["IsPlayed"] = True
        now = time.time()
        started = event(EventType.OrchestratorStarted, now)
        new_events = [started] + [r.event for r in batch]
        context = {
            "history": old + new_events,
            "input": inst.input,
            "instanceId": iid,
            "isReplaying": bool(old),
            "parentInstanceId": inst.parent_instance_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
        try:
            outcome = A.parse_result(
                await self.invoker.run_orchestrator(inst.name, json.dumps(context))
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = A.parse_failure(exc)
        try:
            with st.tx():
                self._commit_episode(inst, batch, old, new_events, outcome, now)
        except Exception as exc:  # an action the engine cannot digest: fail loudly, not hang
            log.exception("durable: episode of %s could not be recorded", iid)
            with st.tx():
                self._commit_episode(
                    inst,
                    batch,
                    old,
                    new_events,
                    A.Outcome(error=f"devstack Durable engine error: {type(exc).__name__}: {exc}"),
                    now,
                )
        self._orch_wake.set()
        self._act_wake.set()
        self._timer_wake.set()
        self._notify_changed()
        return True

    def _commit_episode(
        self,
        inst: Instance,
        batch: list[InboxRow],
        old: list[Event],
        new_events: list[Event],
        outcome: A.Outcome,
        now: float,
    ) -> None:
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
            if kind in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
                timer_id, next_id = next_id, next_id + 1
                fire = now + A.retry_delay_seconds(retry["options"], retry["attempt"])
                emitted.append(
                    event(EventType.TimerCreated, now, timer_id, FireAt=iso_precise(fire))
                )
                st.add_timer(iid, inst.execution_id, timer_id, fire, iso_precise(fire), retry)
                scheduled += 1
            elif kind == EventType.TimerFired:
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
                if kind in (A.WAIT_FOR_EXTERNAL_EVENT, A.CONTINUE_AS_NEW):
                    flat_ids.append(None)
                    if kind == A.CONTINUE_AS_NEW:
                        continue_as_new = action
                    continue
                task_id, next_id = next_id, next_id + 1
                flat_ids.append(task_id)
                scheduled += 1
                if kind == A.CREATE_TIMER:
                    fire_text = action["fireAt"]
                    emitted.append(event(EventType.TimerCreated, now, task_id, FireAt=fire_text))
                    if not action.get("isCanceled"):
                        st.add_timer(
                            iid, inst.execution_id, task_id, parse_iso(fire_text), fire_text
                        )
                    continue
                call = {
                    "kind": "activity"
                    if kind in (A.CALL_ACTIVITY, A.CALL_ACTIVITY_WITH_RETRY)
                    else "orchestrator",
                    "name": action.get("functionName"),
                    "input": action.get("input"),
                    "instanceId": action.get("instanceId"),
                    "attempt": 1,
                }
                if kind in (A.CALL_ACTIVITY_WITH_RETRY, A.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
                    call["options"] = action.get("retryOptions") or {}
                emitted.append(self._schedule_call(inst, task_id, call, now))
            # Timers the orchestrator cancelled (when_any won by something else) never fire.
            for action, known_id in zip(A.flatten(outcome.actions), flat_ids, strict=False):
                if (
                    action.get("actionType") == A.CREATE_TIMER
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
            fields["custom_status"] = _json_text_or_none(outcome.custom_status)

        if failure is not None:
            message = f"Orchestrator function '{inst.name}' failed: {failure}"
            emitted.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus="Failed",
                    Result=message,
                    FailureDetails={"ErrorType": "Exception", "ErrorMessage": failure_details},
                )
            )
            fields.update(status="Failed", output=json.dumps(message))
            self._finish(inst, completed=False, result=message, details=failure_details or "")
        elif outcome.is_done and continue_as_new is not None:
            self._continue_as_new(inst, continue_as_new.get("input"), fields, now)
            st.delete_inbox([r.id for r in batch])
            st.update_instance(iid, **fields)
            return
        elif outcome.is_done:
            output_json = json.dumps(outcome.output)
            emitted.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus="Completed",
                    Result=output_json,
                )
            )
            fields.update(status="Completed", output=output_json)
            self._finish(inst, completed=True, result=output_json, details="")
        else:
            fields["status"] = "Running"
        if fields["status"] != "Running":
            log.info("durable: %s (%s) %s", iid, inst.name, fields["status"])
        emitted.append(event(EventType.OrchestratorCompleted, now))
        written = st.append_history(iid, len(old), new_events + emitted)
        fields["history_bytes"] = inst.history_bytes + written
        st.delete_inbox([r.id for r in batch])
        st.update_instance(iid, **fields)

    def _schedule_call(
        self, inst: Instance, task_id: int, call: dict[str, Any], now: float
    ) -> Event:
        """Inside the episode's transaction: queue an activity or create a child instance."""
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
                EventType.TaskScheduled, now, task_id, Name=call["name"], Input=call["input"]
            )
        child_id = call.get("instanceId") or f"{inst.instance_id}:{task_id}"
        try:
            if call["name"] not in self.invoker.orchestrator_names():
                raise EngineError(
                    400, f"The function '{call['name']}' is not an orchestrator function."
                )
            self._create_instance(
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
                    EventType.SubOrchestrationInstanceFailed,
                    now,
                    TaskScheduledId=task_id,
                    Reason=exc.message,
                    Details=exc.message,
                ),
                retry,
            )
        return event(
            EventType.SubOrchestrationInstanceCreated,
            now,
            task_id,
            Name=call["name"],
            InstanceId=child_id,
            Input=call["input"],
        )

    def _finish(self, inst: Instance, *, completed: bool, result: str, details: str) -> None:
        """An execution ended: drop its queued work and tell the parent, if any."""
        self.store.drop_execution_work(inst.instance_id)
        if inst.parent_instance_id is None or inst.parent_task_id is None:
            return
        now = time.time()
        if completed:
            ev = event(
                EventType.SubOrchestrationInstanceCompleted,
                now,
                TaskScheduledId=inst.parent_task_id,
                Result=result,
            )
            retry = None
        else:
            ev = event(
                EventType.SubOrchestrationInstanceFailed,
                now,
                TaskScheduledId=inst.parent_task_id,
                Reason=result,
                Details=details,
            )
            retry = None if inst.parent_retry is None else json.loads(inst.parent_retry)
        self.store.push_inbox(inst.parent_instance_id, inst.parent_execution_id, "event", ev, retry)

    def _continue_as_new(
        self, inst: Instance, input_json: str | None, fields: dict[str, Any], now: float
    ) -> None:
        st = self.store
        st.drop_execution_work(inst.instance_id)
        st.clear_history(inst.instance_id)
        execution_id = uuid.uuid4().hex
        parent = st.get_instance(inst.parent_instance_id) if inst.parent_instance_id else None
        st.push_inbox(
            inst.instance_id,
            execution_id,
            "event",
            self._execution_started(
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

    def _apply_control(self, inst: Instance, row: InboxRow) -> None:
        st = self.store
        now = time.time()
        reason = str(row.event.get("reason") or "")
        with st.tx():
            st.delete_inbox([row.id])
            history_len = len(st.load_history(inst.instance_id))
            events: list[Event] = []
            fields: dict[str, Any] = {"last_updated_time": now}
            if row.kind == "terminate":
                events = [
                    event(EventType.OrchestratorStarted, now),
                    event(EventType.ExecutionTerminated, now, Input=json.dumps(reason)),
                    event(
                        EventType.ExecutionCompleted,
                        now,
                        OrchestrationStatus="Terminated",
                        Result=json.dumps(reason),
                    ),
                    event(EventType.OrchestratorCompleted, now),
                ]
                fields.update(status="Terminated", output=json.dumps(reason))
                self._finish(
                    inst,
                    completed=False,
                    result=f"Sub-orchestration '{inst.instance_id}' was terminated: {reason}",
                    details=reason,
                )
                st.delete_inbox([r.id for r in st.inbox_for(inst.instance_id)])
            elif row.kind == "suspend" and inst.status in ("Running", "Pending"):
                events = [event(EventType.ExecutionSuspended, now, Reason=reason)]
                fields["status"] = "Suspended"
            elif row.kind == "resume" and inst.status == "Suspended":
                events = [event(EventType.ExecutionResumed, now, Reason=reason)]
                fields["status"] = "Running"
            if events:
                written = st.append_history(inst.instance_id, history_len, events)
                fields["history_bytes"] = inst.history_bytes + written
            st.update_instance(inst.instance_id, **fields)
        self._orch_wake.set()
        self._notify_changed()
