"""The Durable HTTP API (``/runtime/webhooks/durabletask/...``) the client SDK and users call.

Status codes and bodies follow what azure-functions-durable's DurableOrchestrationClient expects
(see the contract §3): the SDK reads ``response.json()`` of every answer, so error bodies are
JSON too, and 404 on a status read is an empty body. The durableClient binding JSON lives here
too: it is this API's address book for the client SDK.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devstack.durable.client import InstanceClient
from devstack.durable.errors import EngineError
from devstack.durable.history import parse_iso
from devstack.durable.status import RUNTIME_STATUSES

DEFAULT_PREFIX = "/runtime/webhooks/durabletask"
# The instances a list query answers when it asks for no `top`: Azure's Durable HTTP API answers
# the first 100 and a continuation header, and azure-functions-durable's get_status_by /
# get_status_all never send `top` nor follow the header (azure-functions-durable-python#580).
DEFAULT_PAGE_SIZE = 100


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


def client_binding_json(base_url: str, prefix: str, task_hub: str) -> str:
    """The durableClient binding value: where the client SDK finds this API under ``base_url``."""
    base = base_url.rstrip("/") + prefix
    qs = f"taskHub={task_hub}&connection=Storage"
    inst = f"{base}/instances/INSTANCEID"
    return json.dumps(
        {
            "taskHubName": task_hub,
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


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def _time(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise EngineError(400, f"{name} is not an ISO-8601 time: {value!r}") from exc


def _statuses(request: web.Request) -> list[str] | None:
    value = request.query.get("runtimeStatus")
    if not value:
        return None
    # "ContinueAsNew" is accepted as an alias of the SDK's "ContinuedAsNew".
    names = [
        "ContinuedAsNew" if v.strip() == "ContinueAsNew" else v.strip()
        for v in value.split(",")
        if v.strip()
    ]
    unknown = [n for n in names if n not in RUNTIME_STATUSES]
    if unknown:
        raise EngineError(400, f"runtimeStatus has unknown values: {', '.join(unknown)}")
    return names


def _count(value: str | None, name: str, default: int, minimum: int = 0) -> int:
    """A whole number from the query or a header, at least `minimum` (a 400 for anything else)."""
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9) or int(value) < minimum:
        raise EngineError(400, f"{name} must be a whole number from {minimum}: {value[:40]!r}")
    return int(value)


def _error(exc: EngineError) -> web.Response:
    return web.json_response(
        {"Message": exc.message, "ExceptionMessage": exc.message}, status=exc.status
    )


def add_routes(engine: InstanceClient, app: web.Application, prefix: str) -> None:
    """Register the handlers on ``app``; the SDK's rpcBaseUrl is ``<origin><prefix>/``."""

    def handler(fn: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                result: web.StreamResponse = await fn(request)
                return result
            except EngineError as exc:
                return _error(exc)

        return wrapped

    def status_url(request: web.Request, instance_id: str) -> str:
        return str(request.url.with_path(f"{prefix}/instances/{instance_id}").with_query(None))

    @handler
    async def start(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id") or None
        input_json = normalise_json_body(await request.read())
        iid = await engine.start_new(name, instance_id, input_json)
        timeout = request.query.get("timeout")
        if timeout:
            try:
                status = await engine.wait_for_completion(iid, float(timeout))
                return web.json_response(status.get("output"), status=200)
            except TimeoutError:
                pass
        url = status_url(request, iid)
        body = {
            "id": iid,
            "statusQueryGetUri": url,
            "sendEventPostUri": f"{url}/raiseEvent/{{eventName}}",
            "terminatePostUri": f"{url}/terminate?reason={{text}}",
            "purgeHistoryDeleteUri": url,
            "restartPostUri": f"{url}/restart",
            "suspendPostUri": f"{url}/suspend?reason={{text}}",
            "resumePostUri": f"{url}/resume?reason={{text}}",
        }
        return web.json_response(body, status=202, headers={"Location": url, "Retry-After": "10"})

    @handler
    async def get_status(request: web.Request) -> web.StreamResponse:
        iid = request.match_info["instance_id"]
        status = engine.get_status(
            iid,
            show_history=_flag(request, "showHistory", False),
            show_history_output=_flag(request, "showHistoryOutput", False),
            show_input=_flag(request, "showInput", True),
        )
        if status is None:
            return web.Response(status=404)
        code = 200
        headers: dict[str, str] = {}
        state = status["runtimeStatus"]
        if state in ("Pending", "Running", "ContinuedAsNew"):
            code = 202
            headers = {"Location": status_url(request, iid), "Retry-After": "10"}
        elif state == "Failed" and _flag(request, "returnInternalServerErrorOnFailure", False):
            code = 500
        return web.json_response(status, status=code, headers=headers)

    @handler
    async def list_statuses(request: web.Request) -> web.StreamResponse:
        statuses = engine.list_statuses(
            created_from=_time(request, "createdTimeFrom"),
            created_to=_time(request, "createdTimeTo"),
            statuses=_statuses(request),
            prefix=request.query.get("instanceIdPrefix") or None,
            show_input=_flag(request, "showInput", False),
        )
        # One page, as Azure answers: `top` of them (DEFAULT_PAGE_SIZE when none is asked for)
        # and, when more match, an x-ms-continuation-token header to ask for the next page with.
        # The order is the engine's own (oldest first); no backend promises one.
        top = _count(request.query.get("top"), "top", DEFAULT_PAGE_SIZE, minimum=1)
        start_at = _count(request.headers.get("x-ms-continuation-token"), "continuation token", 0)
        headers: dict[str, str] = {}
        if start_at + top < len(statuses):
            headers["x-ms-continuation-token"] = str(start_at + top)
        return web.json_response(statuses[start_at : start_at + top], headers=headers)

    @handler
    async def purge_one(request: web.Request) -> web.StreamResponse:
        deleted = engine.purge(request.match_info["instance_id"])
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    @handler
    async def purge_many(request: web.Request) -> web.StreamResponse:
        deleted = engine.purge_by(
            created_from=_time(request, "createdTimeFrom"),
            created_to=_time(request, "createdTimeTo"),
            statuses=_statuses(request),
        )
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    @handler
    async def raise_event(request: web.Request) -> web.StreamResponse:
        data = normalise_json_body(await request.read())
        await engine.raise_event(
            request.match_info["instance_id"], request.match_info["event"], data
        )
        return web.Response(status=202)

    @handler
    async def operation(request: web.Request) -> web.StreamResponse:
        iid = request.match_info["instance_id"]
        op = request.match_info["op"]
        reason = request.query.get("reason", "")
        if op == "terminate":
            await engine.terminate(iid, reason)
        elif op == "suspend":
            await engine.suspend(iid, reason)
        elif op == "resume":
            await engine.resume(iid, reason)
        elif op == "restart":
            new_id = _flag(request, "restartWithNewInstanceId", True)
            restarted = await engine.restart(iid, new_id)
            return web.json_response(restarted, status=202)
        elif op == "rewind":
            return web.json_response(
                "Rewind is not supported by the devstack Durable engine.", status=501
            )
        else:
            return web.json_response(f"Unknown operation '{op}'.", status=404)
        return web.Response(status=202)

    @handler
    async def metrics(request: web.Request) -> web.StreamResponse:
        data = engine.metrics(request.match_info["instance_id"])
        if data is None:
            return web.Response(status=404)
        return web.json_response(data)

    inst = prefix + "/instances/{instance_id}"
    app.router.add_post(prefix + "/orchestrators/{name}", start)
    app.router.add_post(prefix + "/orchestrators/{name}/{instance_id}", start)
    app.router.add_get(prefix + "/instances", list_statuses)
    app.router.add_get(prefix + "/instances/", list_statuses)
    app.router.add_delete(prefix + "/instances", purge_many)
    app.router.add_delete(prefix + "/instances/", purge_many)
    app.router.add_get(inst, get_status)
    app.router.add_delete(inst, purge_one)
    app.router.add_post(inst + "/raiseEvent/{event}", raise_event)
    app.router.add_post(inst + "/{op}", operation)
    app.router.add_get(prefix + "/_devstack/instances/{instance_id}/metrics", metrics)


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PREFIX",
    "add_routes",
    "client_binding_json",
    "normalise_json_body",
]
