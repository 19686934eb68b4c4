"""Find the app's functions and call them exactly as the Python worker does.

``app.get_functions()`` is called once per app object (a second call raises "does not have a
unique function name"), then every function is described by its trigger and bindings. Calls follow
the worker's conventions: parameters by binding name, the durable client as the binding JSON
string *by keyword* (DFApp's wrapper builds the client from it), activity input decoded from JSON
and the result JSON-encoded, all async code on one event loop (the durable client's aiohttp
session is module-global) and sync code in a thread pool.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions._durable_functions import df_dumps, df_loads
from azure.functions.decorators.function_app import FunctionRegister
from azure.functions.decorators.utils import StringifyEnumJsonEncoder

from devstack.host.keys import AuthLevel
from devstack.host.routes import RouteTemplate
from devstack.host.settings import HostSettings, apply_local_settings

log = logging.getLogger("devstack.host")

HTTP_TRIGGER = "httptrigger"
QUEUE_TRIGGER = "queuetrigger"
ORCHESTRATION_TRIGGER = "orchestrationtrigger"
ACTIVITY_TRIGGER = "activitytrigger"
DURABLE_CLIENT = "durableclient"
SUPPORTED_TRIGGERS = {HTTP_TRIGGER, QUEUE_TRIGGER, ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER}


class AppLoadError(RuntimeError):
    """The app could not be imported or uses something this host cannot run."""


def _plain(value: Any) -> Any:
    """Binding dicts with enum members turned into their names (``"GET"``, ``"IN"``)."""
    return json.loads(json.dumps(value, cls=StringifyEnumJsonEncoder))


@dataclass
class FunctionSpec:
    """One function as the host sees it."""

    name: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    fn: Callable[..., Any]
    route: RouteTemplate | None = None
    methods: frozenset[str] = field(default_factory=frozenset)
    # An HTTP trigger's ``authLevel`` (the FunctionApp's ``http_auth_level`` unless the route
    # sets its own); enforced only when the host has keys (devstack.host.keys).
    auth_level: AuthLevel = AuthLevel.FUNCTION

    @property
    def trigger_type(self) -> str:
        return str(self.trigger.get("type", "")).lower()

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def accepts(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods


class InvocationContext:
    """What a ``context: func.Context`` parameter receives (the parts the SDKs read)."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = function_directory
        self.thread_local_storage = threading.local()
        self.trace_context = None
        self.retry_context = None


def import_app(app_dir: Path, module_name: str = "function_app") -> tuple[ModuleType, Any]:
    """Import the app module with the app dir on sys.path; return it and its FunctionRegister."""
    app_path = str(app_dir.resolve())
    if app_path not in sys.path:
        sys.path.insert(0, app_path)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppLoadError(f"importing {module_name} from {app_dir} failed: {exc!r}") from exc
    apps = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    if not apps:
        raise AppLoadError(f"{module_name} defines no FunctionApp/DFApp instance")
    return module, apps[0]


def describe_functions(app: Any) -> list[FunctionSpec]:
    """``get_functions()`` (once per app object) turned into FunctionSpecs."""
    specs: list[FunctionSpec] = []
    for function in app.get_functions():
        name = function.get_function_name()
        trigger = function.get_trigger()
        if trigger is None:
            raise AppLoadError(f"function {name} has no trigger")
        bindings = _plain(function.get_bindings_dict())["bindings"]
        trigger_dict = _plain(trigger.get_dict_repr())
        spec = FunctionSpec(
            name=name, trigger=trigger_dict, bindings=bindings, fn=function.get_user_function()
        )
        kind = spec.trigger_type
        if kind not in SUPPORTED_TRIGGERS:
            log.warning("function %s: trigger %s is not run by the devstack host", name, kind)
        for b in bindings:
            supported = str(b.get("type", "")).lower() in (kind, DURABLE_CLIENT)
            if b.get("name") != "$return" and not supported:
                log.warning(
                    "function %s: binding %s (%s) is not supported locally; calls will fail",
                    name,
                    b.get("name"),
                    b.get("type"),
                )
        if kind == HTTP_TRIGGER:
            spec.route = RouteTemplate(trigger_dict.get("route") or name)
            spec.methods = frozenset(str(m).upper() for m in trigger_dict.get("methods") or [])
            spec.auth_level = AuthLevel.parse(trigger_dict.get("authLevel"))
        specs.append(spec)
    return specs


def decode_activity_input(input_json: str | None) -> Any:
    """As the worker's ActivityTriggerConverter: JSON if it parses, else the raw string."""
    if input_json is None:
        return None
    try:
        return df_loads(input_json)
    except json.JSONDecodeError:
        return input_json


class LoadedApp:
    """The imported app: its functions, and how to call them. Implements FunctionInvoker."""

    def __init__(
        self,
        app_dir: Path,
        *,
        module_name: str = "function_app",
        settings: HostSettings | None = None,
        max_threads: int = 16,
    ) -> None:
        self.app_dir = app_dir.resolve()
        self.settings = settings or HostSettings.load(self.app_dir)
        apply_local_settings(self.app_dir)
        self.module, self.app = import_app(self.app_dir, module_name)
        self.functions: dict[str, FunctionSpec] = {s.name: s for s in describe_functions(self.app)}
        self._http_functions = sorted(
            self.of_type(HTTP_TRIGGER), key=lambda s: s.route.precedence if s.route else ()
        )
        self.durable_client_json: str | None = None
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="func")

    # -- what the host serves -------------------------------------------------------------------

    def of_type(self, trigger_type: str) -> list[FunctionSpec]:
        return [s for s in self.functions.values() if s.trigger_type == trigger_type]

    @property
    def http_functions(self) -> list[FunctionSpec]:
        """HTTP triggers, most specific route first (ASP.NET route precedence)."""
        return self._http_functions

    @property
    def queue_functions(self) -> list[FunctionSpec]:
        return self.of_type(QUEUE_TRIGGER)

    @property
    def uses_durable(self) -> bool:
        return any(
            s.trigger_type in (ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER)
            or any(str(b.get("type", "")).lower() == DURABLE_CLIENT for b in s.bindings)
            for s in self.functions.values()
        )

    def match_http(self, path: str, method: str) -> tuple[FunctionSpec, dict[str, str]] | None:
        """The function for a path (without route prefix) and method, with its route values."""
        for spec in self.http_functions:
            assert spec.route is not None
            values = spec.route.match(path)
            if values is not None and spec.accepts(method):
                return spec, values
        return None

    # -- calling functions ----------------------------------------------------------------------

    def _arguments(self, spec: FunctionSpec, trigger_value: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for binding in spec.bindings:
            kind = str(binding.get("type", "")).lower()
            name = str(binding.get("name", ""))
            direction = str(binding.get("direction", "IN")).upper()
            if name == "$return":
                continue
            if direction == "OUT":
                raise RuntimeError(
                    f"{spec.name}: output binding {kind} ({name}) is not supported locally"
                )
            if kind == spec.trigger_type:
                kwargs[name] = trigger_value
            elif kind == DURABLE_CLIENT:
                if self.durable_client_json is None:
                    raise RuntimeError(f"{spec.name} needs a durable client but no engine runs")
                kwargs[name] = self.durable_client_json
            else:
                raise RuntimeError(f"{spec.name}: binding type {kind} is not supported locally")
        try:
            params = inspect.signature(spec.fn).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        if "context" in params and "context" not in kwargs:
            kwargs["context"] = InvocationContext(spec.name, str(self.app_dir))
        return kwargs

    async def call(self, spec: FunctionSpec, trigger_value: Any, *, quiet: bool = False) -> Any:
        """Run one function invocation; async on this loop, sync in the thread pool."""
        kwargs = self._arguments(spec, trigger_value)
        invocation = kwargs["context"].invocation_id if "context" in kwargs else uuid.uuid4()
        level = logging.DEBUG if quiet else logging.INFO
        log.log(level, "Executing 'Functions.%s' (Id=%s)", spec.name, invocation)
        started = time.perf_counter()
        outcome = "Failed"
        try:
            if spec.is_async:
                result = await spec.fn(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._executor, lambda: spec.fn(**kwargs))
            outcome = "Succeeded"
            return result
        finally:
            ms = (time.perf_counter() - started) * 1000
            log.log(
                level if outcome == "Succeeded" else logging.WARNING,
                "Executed 'Functions.%s' (%s, Id=%s, Duration=%.0fms)",
                spec.name,
                outcome,
                invocation,
                ms,
            )

    # -- FunctionInvoker (what the Durable engine calls) ----------------------------------------

    def orchestrator_names(self) -> set[str]:
        return {s.name for s in self.of_type(ORCHESTRATION_TRIGGER)}

    def activity_names(self) -> set[str]:
        return {s.name for s in self.of_type(ACTIVITY_TRIGGER)}

    def _durable(self, name: str, trigger_type: str) -> FunctionSpec:
        spec = self.functions.get(name)
        if spec is None or spec.trigger_type != trigger_type:
            raise LookupError(f"no {trigger_type} function named {name!r}")
        return spec

    async def run_orchestrator(self, name: str, context_json: str) -> str:
        spec = self._durable(name, ORCHESTRATION_TRIGGER)
        context = func.OrchestrationContext(context_json)
        # DFApp's handle takes the context positionally, whatever the binding is called.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, spec.fn, context)
        return result if isinstance(result, str) else json.dumps(result)

    async def run_activity(self, name: str, input_json: str | None) -> str:
        spec = self._durable(name, ACTIVITY_TRIGGER)
        result = await self.call(spec, decode_activity_input(input_json), quiet=True)
        return df_dumps(result)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def as_http_response(result: Any) -> func.HttpResponse:
    """What the worker's HTTP output converter accepts, as a HttpResponse."""
    if isinstance(result, func.HttpResponse):
        return result
    if result is None:
        return func.HttpResponse(status_code=204)
    if isinstance(result, str | bytes):
        return func.HttpResponse(result)
    if isinstance(result, Mapping | list | int | float | bool):
        return func.HttpResponse(json.dumps(result), mimetype="application/json")
    raise TypeError(f"unsupported HTTP function result {type(result).__name__}")
