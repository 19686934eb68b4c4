"""The client operations of a task hub: what ``DurableOrchestrationClient`` asks for.

Start, raise event, terminate/suspend/resume, restart, purge and query, each as one transaction
on the store followed by a wake-up of the orchestration dispatcher. The HTTP layer serves exactly
these; ``DurableEngine`` is this class plus the dispatchers that act on what it queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from azure.durable_functions.models.history import HistoryEventType

from devstack.durable.errors import EngineError
from devstack.durable.history import event
from devstack.durable.history import public_history as render_history
from devstack.durable.instances import create_instance
from devstack.durable.invoker import FunctionInvoker
from devstack.durable.signals import Signals
from devstack.durable.status import status_json
from devstack.durable.store import Instance, Store


class InstanceClient:
    """Client operations over the store the engine opens in ``start()``."""

    def __init__(self, invoker: FunctionInvoker, signals: Signals) -> None:
        self.invoker = invoker
        self.signals = signals
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("DurableEngine.start() has not been awaited")
        return self._store

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
            create_instance(self.store, name, iid, input_json)
        self.signals.orchestrations.set()
        self.signals.notify_changed()
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
        status = status_json(inst, show_input)
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
            status_json(i, show_input)
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
                event(HistoryEventType.EVENT_RAISED, time.time(), Name=name, Input=data_json),
            )
        self.signals.orchestrations.set()

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
        self.signals.orchestrations.set()

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
            changed = self.signals.changed
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

    def _require(self, instance_id: str) -> Instance:
        inst = self.store.get_instance(instance_id)
        if inst is None:
            raise EngineError(404, f"No instance with ID '{instance_id}' found.")
        return inst

    def _original_input(self, inst: Instance) -> str | None:
        for ev in self.store.load_history(inst.instance_id):
            if ev["EventType"] == HistoryEventType.EXECUTION_STARTED:
                value = ev.get("Input")
                return value if isinstance(value, str) or value is None else json.dumps(value)
        return inst.input
