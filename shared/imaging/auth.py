"""How a request to the image API proves who it is: a key, or an Entra ID token.

A key goes in `api-key` (Azure), `Authorization: Bearer` (OpenAI) or the header a service names
(`x-key`: Black Forest Labs' own API). Without a key, an async
azure-identity TokenCredential (DefaultAzureCredential in Azure: managed identity) supplies a token
for the Cognitive Services scope; it is cached until shortly before it expires, so a fan-out of
activities does not hammer the identity endpoint. The key and the token never appear in a repr.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from shared.imaging.types import ErrorCode, ImageApiError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
REFRESH_MARGIN_S = 300.0  # refresh a token this long before it expires


class Auth:
    """Credentials for one image endpoint. Build with `Auth.from_key` or `Auth.from_credential`."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        credential: AsyncTokenCredential | None = None,
        scope: str = COGNITIVE_SCOPE,
        key_header: str = "api-key",
    ) -> None:
        if (api_key is None) == (credential is None):
            raise ValueError("Auth needs exactly one of api_key or credential")
        if api_key is not None and not api_key.strip():
            raise ValueError("api_key is empty")
        self._api_key = api_key
        self._credential = credential
        self.scope = scope
        self.key_header = key_header
        self._token: str | None = None
        self._expires_on: float = 0.0
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_key(cls, api_key: str, *, header: str = "api-key") -> Auth:
        """A key sent in `header` (BFL's API wants `x-key`), or as Bearer when asked."""
        return cls(api_key=api_key, key_header=header)

    @classmethod
    def from_credential(
        cls, credential: AsyncTokenCredential, scope: str = COGNITIVE_SCOPE
    ) -> Auth:
        return cls(credential=credential, scope=scope)

    def __repr__(self) -> str:
        kind = self.key_header if self._api_key is not None else f"token({self.scope})"
        return f"Auth({kind})"

    __str__ = __repr__

    async def headers(self, *, bearer_key: bool = False) -> dict[str, str]:
        """Request headers. `bearer_key`: send a key as `Authorization: Bearer` (OpenAI's API)."""
        if self._api_key is not None:
            if bearer_key:
                return {"Authorization": f"Bearer {self._api_key}"}
            return {self.key_header: self._api_key}
        return {"Authorization": f"Bearer {await self._bearer_token()}"}

    async def _bearer_token(self) -> str:
        if self._token is not None and time.time() < self._expires_on - REFRESH_MARGIN_S:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is not None and time.time() < self._expires_on - REFRESH_MARGIN_S:
                return self._token
            assert self._credential is not None
            # azure-core loads with the credential's first token, not with every worker's start.
            from azure.core.exceptions import ServiceRequestError, ServiceResponseError

            try:
                token = await self._credential.get_token(self.scope)
            except (ServiceRequestError, ServiceResponseError) as exc:
                raise ImageApiError(
                    ErrorCode.UNAVAILABLE,
                    f"The identity endpoint is unreachable ({type(exc).__name__}).",
                ) from None
            except Exception as exc:  # azure-identity raises several unrelated types
                raise ImageApiError(
                    ErrorCode.AUTH_FAILED,
                    "Could not get an Entra ID token for the image service "
                    f"({type(exc).__name__}).",
                ) from None
            self._token = token.token
            self._expires_on = float(token.expires_on)
            return self._token

    async def close(self) -> None:
        if self._credential is not None:
            await self._credential.close()
