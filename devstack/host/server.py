"""The host's one aiohttp application: HTTP triggers, the Durable HTTP API, queue listeners.

Everything runs on one event loop, as in the Python worker: HTTP triggers under the host.json route
prefix (``/api/...``), the Durable engine's HTTP API (``/runtime/webhooks/durabletask/...``), the
queue pollers and the engine's dispatchers. ``authLevel`` is ignored, as Core Tools ignores it on
localhost. Requests are logged by path only: query strings can carry SAS signatures or keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import azure.functions as func
from aiohttp import web

from devstack.host.loader import FunctionSpec, LoadedApp, as_http_response
from devstack.host.queues import QueueListener
from devstack.host.settings import HostSettings

log = logging.getLogger("devstack.host")
access_log = logging.getLogger("devstack.host.http")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
ENGINE_DB_NAME = "durable.sqlite"


class Engine(Protocol):
    """What the host needs of devstack.durable.engine.DurableEngine."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def add_routes(self, app: web.Application, prefix: str = ...) -> None: ...
    def client_binding_json(self, base_url: str) -> str: ...


EngineFactory = Callable[[Path, LoadedApp, HostSettings], Engine]


def default_engine_factory(db_path: Path, app: LoadedApp, settings: HostSettings) -> Engine:
    from devstack.durable.engine import DurableEngine  # only apps that use Durable need it

    engine: Engine = DurableEngine(
        db_path,
        app,
        task_hub=settings.hub_name,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_orchestrations=settings.max_concurrent_orchestrations,
    )
    return engine


@web.middleware
async def _access_log(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        ms = (time.perf_counter() - started) * 1000
        # request.path has no query string: SAS signatures and keys stay out of the log.
        access_log.info("%s %s -> %d (%.0fms)", request.method, request.path, status, ms)


def to_aiohttp(response: func.HttpResponse) -> web.Response:
    headers: dict[str, str] = {str(k): str(v) for k, v in response.headers.items()}
    if not any(k.lower() == "content-type" for k in headers):
        mimetype = response.mimetype or "text/plain"
        charset = response.charset
        headers["Content-Type"] = f"{mimetype}; charset={charset}" if charset else mimetype
    return web.Response(status=response.status_code, body=response.get_body(), headers=headers)


class HostServer:
    """Load the app, serve it, stop it. One instance per process."""

    def __init__(
        self,
        app_dir: Path,
        *,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 7071,
        module_name: str = "function_app",
        engine_factory: EngineFactory | None = None,
    ) -> None:
        self.app_dir = app_dir.resolve()
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.module_name = module_name
        self.engine_factory = engine_factory or default_engine_factory
        self.settings = HostSettings.load(self.app_dir)
        self.app: LoadedApp | None = None
        self.engine: Engine | None = None
        self.listeners: list[QueueListener] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        """Serve; return the base URL (``http://127.0.0.1:PORT``)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        loaded = self.app = LoadedApp(
            self.app_dir, module_name=self.module_name, settings=self.settings
        )
        webapp = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_access_log])
        if loaded.uses_durable:
            self.engine = self.engine_factory(self.data_dir / ENGINE_DB_NAME, loaded, self.settings)
            self.engine.add_routes(webapp)
        prefix = self.settings.route_prefix
        # [\s\S]: a decoded path may hold any character, a newline (%0A) included.
        if prefix:
            webapp.router.add_route("*", f"/{prefix}", self._http_trigger)
            webapp.router.add_route("*", f"/{prefix}/{{tail:[\\s\\S]*}}", self._http_trigger)
        else:
            webapp.router.add_route("*", "/{tail:[\\s\\S]*}", self._http_trigger)
        self._runner = web.AppRunner(webapp, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{self.host}:{self.port}"
        # Azure and Core Tools tell the worker where the app is served (apps build links from it).
        os.environ.setdefault("WEBSITE_HOSTNAME", f"{self.host}:{self.port}")
        if self.engine is not None:
            loaded.durable_client_json = self.engine.client_binding_json(self.base_url)
            await self.engine.start()
        for spec in loaded.queue_functions:
            try:
                listener = QueueListener(loaded, spec, self.settings.queues)
            except KeyError as exc:
                # As the real host: the function is disabled with an error, the others run.
                log.error("function %s is disabled: %s", spec.name, exc)
                continue
            await listener.start()
            self.listeners.append(listener)
        for spec in loaded.http_functions:
            methods = ",".join(sorted(spec.methods)) or "*"
            log.info("%s: [%s] %s/%s", spec.name, methods, self.base_url, self._path(spec))
        return self.base_url

    def _path(self, spec: FunctionSpec) -> str:
        assert spec.route is not None
        prefix = self.settings.route_prefix
        return f"{prefix}/{spec.route.template}" if prefix else spec.route.template

    async def _http_trigger(self, request: web.Request) -> web.StreamResponse:
        assert self.app is not None
        found = self.app.match_http(request.match_info.get("tail", ""), request.method)
        if found is None:
            return web.Response(status=404)
        spec, route_values = found
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=route_values,
            body=await request.read(),
        )
        try:
            result = await self.app.call(spec, req)
            return to_aiohttp(as_http_response(result))
        except Exception:
            log.exception("function %s failed", spec.name)
            return web.Response(status=500)

    async def stop(self) -> None:
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                await listener.stop()
        self.listeners.clear()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.engine is not None:
            await self.engine.stop()
        if self.app is not None:
            self.app.close()

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        print(f"host listening on {self.base_url}", flush=True)
        try:
            await stop.wait()
        finally:
            log.info("host stopping")
            await self.stop()
