"""The host's one aiohttp application: HTTP triggers, the Durable HTTP API, queue listeners.

Everything runs on one event loop, as in the Python worker: HTTP triggers under the host.json route
prefix (``/api/...``), the Durable engine's HTTP API (``/runtime/webhooks/durabletask/...``), the
queue pollers and the engine's dispatchers. ``authLevel`` is ignored, as Core Tools ignores it on
localhost, unless ``DEVSTACK_FUNCTION_KEY`` (or ``DEVSTACK_MASTER_KEY``) is set: then a route that
needs a key answers 401 without one, as on Azure (devstack.host.keys). The Durable HTTP API stays
open either way: the app's durable client calls it as its ``rpcBaseUrl``, which on Azure is the
extension's loopback endpoint that takes no key. Requests are logged by path only: query strings
can carry SAS signatures or keys.

Bad requests are refused by the host, as the real host (Kestrel) refuses them before any worker
sees them, with a 4xx and never a 500 or a traceback: broken framing (aiohttp's parser answers
400, logged as one line), a Host header no URL can be built from (400), a body over the size
limit (413), a Content-Encoding that is not gzip/deflate/identity (415) or that does not decode
(400). Compressed bodies are inflated here (aiohttp's own auto-decompression is off) in bounded
steps, so a small "zip bomb" costs at most the size limit, not its inflated size.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import azure.functions as func
from aiohttp import http_exceptions, web, web_protocol

from devstack.host.app_secrets import ensure_link_secret
from devstack.host.keys import FUNCTION_KEY_SETTING, MASTER_KEY_SETTING, HostKeys, presented_key
from devstack.host.loader import FunctionSpec, LoadedApp, as_http_response
from devstack.host.logs import escape_controls, register_secret
from devstack.host.queues import QueueListener
from devstack.host.settings import HostSettings

log = logging.getLogger("devstack.host")
access_log = logging.getLogger("devstack.host.http")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request size limit
INFLATE_STEP_BYTES = 256 * 1024  # most a compressed body grows by between two size checks
# Content codings the host decodes. RFC 9110 8.4.1: a server MAY answer 415 for any other.
_GZIP = ("gzip", "x-gzip")
_DEFLATE = ("deflate",)
_IDENTITY = "identity"
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


class RequestRefused(Exception):
    """A request the host answers itself with a 4xx (the function is never called)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self) -> web.Response:
        """The same error body as the app's (``{"error": {"code", "message", "field"?}}``), so a
        client reads a refusal by the host like one by the app."""
        error: dict[str, str] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return web.json_response({"error": error}, status=self.status)


def content_codings(header: str) -> list[str]:
    """``Content-Encoding`` as the codings applied, in order (``identity`` and blanks dropped)."""
    codings = [c.strip().lower() for c in header.split(",")]
    return [c for c in codings if c and c != _IDENTITY]


def inflate(data: bytes, coding: str, limit: int) -> bytes:
    """Undo one content coding, ``INFLATE_STEP_BYTES`` at a time, refusing (413) as soon as the
    output passes ``limit``: the cost of a bomb is bounded by the limit, not by what it inflates
    to. Broken or truncated data is a 400 naming the header. The output is built in a BytesIO,
    whose getvalue() hands over its buffer without a copy (a bytearray → bytes would double it).
    """
    if coding in _GZIP:
        wbits = 16 + zlib.MAX_WBITS
    elif coding in _DEFLATE:
        # HTTP "deflate" is the zlib format, but some clients send raw deflate (aiohttp and
        # browsers accept both): a zlib stream starts with compression method 8.
        wbits = zlib.MAX_WBITS if data[:1] and data[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        raise RequestRefused(
            415,
            "unsupported_media_type",
            f"Content-Encoding {coding!r} is not supported (use gzip, deflate or identity)",
            "Content-Encoding",
        )
    out = io.BytesIO()
    pending = data
    decoder = zlib.decompressobj(wbits)
    try:
        while True:
            piece = decoder.decompress(pending, INFLATE_STEP_BYTES)
            if out.tell() + len(piece) > limit:
                raise RequestRefused(
                    413,
                    "body_too_large",
                    f"the decoded body is larger than the host's limit of {limit} bytes",
                    "body",
                )
            out.write(piece)
            if decoder.eof:
                rest = decoder.unused_data
                if not rest:
                    break
                if coding not in _GZIP:
                    raise zlib.error("data after the end of the deflate stream")
                # A gzip body may be several members, one after the other (RFC 1952 2.2).
                decoder, pending = zlib.decompressobj(wbits), rest
                continue
            pending = decoder.unconsumed_tail
            if not pending and not piece:
                raise zlib.error("the compressed data ends early")
    except zlib.error as exc:
        raise RequestRefused(
            400,
            "invalid_request",
            f"the body does not decode as Content-Encoding {coding}: {exc}",
            "Content-Encoding",
        ) from None
    return out.getvalue()


def decode_body(data: bytes, content_encoding: str, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The body as the function gets it: every content coding undone, last applied first."""
    body = data
    for coding in reversed(content_codings(content_encoding)):
        if not body:
            break  # an empty body is empty in any coding
        body = inflate(body, coding, limit)
    return body


async def read_body(request: web.Request) -> bytes:
    """The raw body (at most ``MAX_REQUEST_BYTES``, aiohttp's ``client_max_size``), decoded.

    Framing aiohttp only finds while reading the body (a broken chunked encoding) arrives as an
    exception from ``read()``: it is the caller's fault, so a 400, not the 500 aiohttp makes of
    any exception that leaves a handler.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestRefused(
            413,
            "body_too_large",
            f"the body is larger than the host's limit of {MAX_REQUEST_BYTES} bytes",
            "body",
        ) from None
    except (web_protocol.RequestPayloadError, http_exceptions.HttpProcessingError) as exc:
        raise RequestRefused(
            400, "invalid_request", f"the request body is malformed: {exc}", "body"
        ) from None
    return decode_body(raw, ",".join(request.headers.getall("Content-Encoding", [])))


# RFC 3986 host (a reg-name or an IP literal) with an optional port, as Kestrel checks it.
_HOST = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")


def request_url(request: web.Request) -> str:
    """The request's absolute URL, which needs a usable Host header: Kestrel answers 400 for one
    that is not an RFC 3986 host[:port] (``a b``, ``\xff``), and yarl raised ValueError (a 500)
    for some of them; the others would reach the app in every link it builds."""
    host = request.headers.get("Host", "")
    if _HOST.fullmatch(host) is None:
        raise RequestRefused(
            400, "invalid_request", "the Host header is not a valid host[:port]", "Host"
        )
    try:
        return str(request.url)
    except ValueError:
        raise RequestRefused(
            400, "invalid_request", "the Host header is not a valid host[:port]", "Host"
        ) from None


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` as aiohttp answers it; any other expectation a 417 with the
    usual error body. aiohttp's own handler put the header's value in its 417 text, and a value
    that was not UTF-8 made that a 500 with a traceback."""
    expect = request.headers.get("Expect", "")
    if request.version != (1, 1):
        return None
    if expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the 100 is not the start of the response
        return None
    return RequestRefused(
        417, "expectation_failed", "the only expectation served is 100-continue", "Expect"
    ).response()


class ServerLogger(logging.Logger):
    """aiohttp's server logger, but a request that is refused for its own framing (a line too
    long, a bad header character: an ``HttpProcessingError`` with a 4xx code) is one INFO line,
    not an ERROR with a traceback: it is the caller's mistake, and a traceback in the host's log
    means the host is broken. Anything else is logged as aiohttp logs it."""

    def __init__(self) -> None:
        super().__init__("aiohttp.server")
        self.parent = logging.getLogger("aiohttp")

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info", True)
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        code = getattr(exc, "code", 0)
        if isinstance(exc, http_exceptions.HttpProcessingError) and 400 <= code < 500:
            # The type only: aiohttp's message quotes the start of the offending line, which
            # may be a header carrying a key (x-functions-key, Authorization) or a ?code= URL.
            self.info("refused a malformed request (%d): %s", code, type(exc).__name__)
            return
        super().exception(msg, *args, **kwargs)


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
        # Escaped here as well as by the handler's filter: a path may decode to CR/LF (%0d%0a).
        path = escape_controls(request.path)
        access_log.info("%s %s -> %d (%.0fms)", request.method, path, status, ms)


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
        self.keys = HostKeys()
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
        # Read after LoadedApp has put local.settings.json's Values into the environment.
        self.keys = HostKeys.from_environ()
        for secret in [*self.keys.secrets, ensure_link_secret(self.data_dir)]:
            register_secret(secret)
        webapp = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_access_log])
        if loaded.uses_durable:
            self.engine = self.engine_factory(self.data_dir / ENGINE_DB_NAME, loaded, self.settings)
            self.engine.add_routes(webapp)
        prefix = self.settings.route_prefix
        # [\s\S]: a decoded path may hold any character, a newline (%0A) included. Every path
        # outside the engine's API is ours, a non-route too (404), so that our expect_handler
        # answers for all of them.
        tail = "{tail:[\\s\\S]*}"
        patterns = [f"/{prefix}", f"/{prefix}/{tail}"] if prefix else []
        for pattern in [*patterns, f"/{tail}"]:
            handler = self._http_trigger if pattern in patterns or not prefix else self._no_route
            webapp.router.add_route("*", pattern, handler, expect_handler=expect_handler)
        self._runner = web.AppRunner(
            webapp,
            access_log=None,
            handle_signals=False,
            auto_decompress=False,  # read_body inflates, within the size limit
            logger=ServerLogger(),
        )
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
        if self.keys.enforced:
            named = [FUNCTION_KEY_SETTING] if self.keys.function_key else []
            named += [MASTER_KEY_SETTING] if self.keys.master_key else []
            log.info(
                "function keys enforced (%s set): send x-functions-key or ?code=", ", ".join(named)
            )
        for spec in loaded.http_functions:
            methods = ",".join(sorted(spec.methods)) or "*"
            level = f" ({spec.auth_level.value})" if self.keys.enforced else ""
            log.info("%s: [%s] %s/%s%s", spec.name, methods, self.base_url, self._path(spec), level)
        return self.base_url

    def _path(self, spec: FunctionSpec) -> str:
        assert spec.route is not None
        prefix = self.settings.route_prefix
        return f"{prefix}/{spec.route.template}" if prefix else spec.route.template

    async def _no_route(self, request: web.Request) -> web.StreamResponse:
        """Outside the route prefix: a 404 without a body, as the Functions host answers."""
        return web.Response(status=404)

    async def _http_trigger(self, request: web.Request) -> web.StreamResponse:
        assert self.app is not None
        found = self.app.match_http(request.match_info.get("tail", ""), request.method)
        if found is None:
            return web.Response(status=404)
        spec, route_values = found
        try:
            url = request_url(request)
            if not self.keys.authorizes(
                spec.auth_level, presented_key(request.headers, request.query.items())
            ):
                # As the Functions host: an empty 401 before the function runs (or the body is
                # read), whether the key is missing or wrong.
                return web.Response(status=401)
            body = await read_body(request)
        except RequestRefused as refused:
            return refused.response()
        req = func.HttpRequest(
            method=request.method,
            url=url,
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=route_values,
            body=body,
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
