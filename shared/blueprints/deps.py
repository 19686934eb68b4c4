"""The worker process's long-lived objects, built lazily on first use.

Importing function_app.py must do no I/O and read no settings, so nothing here is created at import
time. One pooled httpx.AsyncClient, one async blob client and one credential per identity
(shared/identity.py) serve every activity and HTTP call of the process. aiohttp/httpx connections
belong to the event loop that opened them, so the objects are kept per running loop (the Functions
worker has one; tests may have several).

The SDKs behind them (httpx, azure-storage-blob, azure-identity, the flavour clients) are imported
when the first Runtime is built, not with this module: every cold start imports this module, and
the worker should not pay for clients before its first call needs them.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared import identity
from shared.imaging.auth import Auth
from shared.imaging.types import Deployment, ErrorCode, Flavour, ImageApiClient, ImageApiError
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.storage.policy import DownloadPolicy
    from shared.storage.store import ImageStore


def _http_client() -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=15.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30),
        follow_redirects=False,
    )


@dataclass
class Runtime:
    """Everything an activity or HTTP function needs beyond its input."""

    settings: Settings
    http: httpx.AsyncClient
    store: ImageStore
    policy: DownloadPolicy
    input_policy: DownloadPolicy  # an edit's {"url"} inputs: the caller's URLs
    # One credential per identity (shared/identity.py): the images' store and the Azure OpenAI
    # tokens share one when they use the same identity.
    _credentials: dict[identity.Identity, AsyncTokenCredential] = field(default_factory=dict)
    _auth: dict[str, Auth] = field(default_factory=dict)
    _clients: dict[str, ImageApiClient] = field(default_factory=dict)

    def auth_for(self, deployment: Deployment) -> Auth:
        """One Auth per kind of credential: OpenAI's key, BFL's key (sent as `x-key`), or Azure's
        key / Entra ID token (every other flavour)."""
        kind = {Flavour.OPENAI: "openai", Flavour.BFL: "bfl"}.get(deployment.flavour, "azure")
        auth = self._auth.get(kind)
        if auth is None:
            if kind == "bfl":
                bfl_key = self.settings.bfl_api_key
                if bfl_key is None:  # settings refuse this; kept for hand-built settings
                    raise ImageApiError(
                        ErrorCode.AUTH_FAILED,
                        f"model {deployment.name!r} uses Black Forest Labs' API; BFL_API_KEY is "
                        "not set",
                    )
                auth = Auth.from_key(bfl_key.get_secret_value(), header="x-key")
            elif kind == "openai":
                key = self.settings.openai_api_key
                if key is None:
                    raise ImageApiError(
                        ErrorCode.AUTH_FAILED,
                        f"model {deployment.name!r} uses OpenAI's API; OPENAI_API_KEY is not set",
                    )
                auth = Auth.from_key(key.get_secret_value())
            else:
                key = self.settings.azure_openai_api_key
                auth = (
                    Auth.from_key(key.get_secret_value())
                    if key is not None
                    else Auth.from_credential(self.credential(self.settings.app_identity))
                )
            self._auth[kind] = auth
        return auth

    def credential(self, who: identity.Identity) -> AsyncTokenCredential:
        """The credential of `who`, created on first need by shared.identity.make_credential."""
        credential = self._credentials.get(who)
        if credential is None:
            credential = self._credentials[who] = identity.make_credential(who)
        return credential

    def client(self, deployment: Deployment) -> ImageApiClient:
        client = self._clients.get(deployment.name)
        if client is None or client.deployment != deployment:
            from shared.imaging.factory import client_for

            client = client_for(deployment, self.http, self.auth_for(deployment))
            self._clients[deployment.name] = client
        return client

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.store.close()
        for credential in self._credentials.values():
            await credential.close()
        self._credentials.clear()


_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = (
    weakref.WeakKeyDictionary()
)


def build_runtime(settings: Settings) -> Runtime:
    from shared.storage.policy import DownloadPolicy
    from shared.storage.store import ImageStore

    http = _http_client()
    credentials: dict[identity.Identity, AsyncTokenCredential] = {}
    account = settings.images_account
    if account is not None:
        url, who = account
        credential = credentials[who] = identity.make_credential(who)
        store = ImageStore.from_account_url(url, credential, settings.images_container)
    else:
        store = ImageStore.from_connection_string(
            settings.images_storage, settings.images_container
        )
    policy = DownloadPolicy(
        allowed_hosts=tuple(settings.image_source_allowed_hosts),
        allow_http_hosts=tuple(settings.image_source_allow_http_hosts),
        max_bytes=settings.image_max_bytes,
    )
    input_policy = policy.for_callers(tuple(settings.edit_source_allow_http_origins))
    return Runtime(
        settings=settings,
        http=http,
        store=store,
        policy=policy,
        input_policy=input_policy,
        _credentials=credentials,
    )


def runtime() -> Runtime:
    """This event loop's Runtime (settings are read and validated on the first call)."""
    loop = asyncio.get_running_loop()
    current = _runtimes.get(loop)
    if current is None:
        current = build_runtime(get_settings())
        _runtimes[loop] = current
    return current


async def close_runtime() -> None:
    """Close this loop's Runtime. Tests use it between settings; the Functions worker has no
    shutdown hook for a v2 app, so a worker's Runtime lives as long as its process."""
    current = _runtimes.pop(asyncio.get_running_loop(), None)
    if current is not None:
        await current.aclose()
