"""A small app the host tests run: HTTP routes and methods, env, and a queue trigger."""

import contextlib
import json
import os
import time

import azure.functions as func
from azure.storage.queue import QueueClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _report(queue: str, payload: dict) -> None:
    """Tell the test what happened, through a queue it can read."""
    connection = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the Functions setting name
    client = QueueClient.from_connection_string(connection, queue)
    with contextlib.suppress(Exception):  # exists already
        client.create_queue()
    client.send_message(json.dumps(payload))


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name", "world")
    return func.HttpResponse(f"hello {name}", headers={"X-Sample": "yes"})


@app.route(route="items/{id}", methods=["GET", "DELETE"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    body = {"id": req.route_params["id"], "method": req.method}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="items/{id}/parts/{index:int?}", methods=["GET"])
def item_part(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json")


@app.route(route="items/special", methods=["GET"])
def special_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("the literal route wins")


@app.route(methods=["POST"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    """No route: served at /api/echo (the function name)."""
    return func.HttpResponse(
        req.get_body(),
        status_code=201,
        mimetype=req.headers.get("content-type", "application/octet-stream"),
    )


@app.route(route="settings")
def settings(req: func.HttpRequest) -> func.HttpResponse:
    names = ["SAMPLE_FROM_FILE", "SAMPLE_OVERRIDDEN", "WEBSITE_HOSTNAME"]
    return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}))


@app.route(route="public", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def public(req: func.HttpRequest) -> func.HttpResponse:
    """Open whatever keys the host enforces."""
    return func.HttpResponse("anyone may read this")


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    """Only the master key opens it once the host enforces keys."""
    return func.HttpResponse("admins only")


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this function always fails")


def _wait_for_release(text: str) -> None:
    """Block (in the worker's thread pool) until the test puts ``text`` on sample-release."""
    connection = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the Functions setting name
    client = QueueClient.from_connection_string(connection, "sample-release")
    with contextlib.suppress(Exception):
        client.create_queue()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for m in client.receive_messages(visibility_timeout=1):
            if m.content == text:
                client.delete_message(m)
                return
        time.sleep(0.1)
    raise TimeoutError(f"{text} was never released")


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
def on_message(msg: func.QueueMessage) -> None:
    text = msg.get_body().decode("utf-8")
    _report("sample-attempts", {"body": text, "dequeue_count": msg.dequeue_count, "id": msg.id})
    if text.startswith("fail"):
        raise ValueError(f"refusing {text}")
    if text.startswith("slow"):
        _wait_for_release(text)
    _report("sample-done", {"body": text})
