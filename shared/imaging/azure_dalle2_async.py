"""DALL-E 2 on Azure, asynchronous: submit an operation, poll it, delete it once stored.

The orchestrator owns the pacing: `get_operation` reports the service's `retry-after` hint and
never sleeps. Operation URLs from the service are trusted only on the configured endpoint, so a
forged or misrouted `operation-location` never receives the key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.imaging.base import BaseImageClient, images_from, request_body
from shared.imaging.errors import (
    classify_operation_failure,
    invalid_body_error,
    retry_after_seconds,
)
from shared.imaging.types import (
    EditSources,
    ErrorCode,
    Flavour,
    GenerationParams,
    ImageApiError,
    OperationState,
    OperationStatus,
)


class AzureDalle2AsyncClient(BaseImageClient):
    flavour = Flavour.AZURE_DALLE2_ASYNC

    @property
    def api_version(self) -> str:
        """The deployment's (settings fill in the default, shared/settings.py: written once)."""
        if not self.deployment.api_version:
            raise ValueError(f"deployment {self.deployment.name!r} needs an api_version")
        return self.deployment.api_version

    async def submit(self, params: GenerationParams, sources: EditSources | None = None) -> str:
        if sources is not None:
            raise ImageApiError(
                ErrorCode.INVALID_REQUEST,
                "DALL-E 2's asynchronous operations make new images only; edits are not offered.",
            )
        url = (
            f"{self.endpoint}/openai/images/generations:submit"
            f"?api-version={quote(self.api_version, safe='')}"
        )
        body = request_body(params, self.deployment.family)
        response = await self._send(
            "POST", url, body=body, limits=self.generate_timeout, ok=(200, 201, 202)
        )
        location = response.headers.get("operation-location")  # httpx: case-insensitive
        if location:
            return self._same_origin(location.strip())
        # Some gateways drop the header; the body's id names the same operation.
        payload = self._json(response)
        op_id = payload.get("id")
        if not isinstance(op_id, str) or not op_id:
            raise invalid_body_error(response.status_code, "no operation-location")
        return (
            f"{self.endpoint}/openai/operations/images/{quote(op_id, safe='')}"
            f"?api-version={quote(self.api_version, safe='')}"
        )

    async def get_operation(self, operation_url: str) -> OperationState:
        url = self._same_origin(operation_url)
        response = await self._send("GET", url, limits=self.poll_timeout, operation=True)
        payload = self._json(response)
        retry_after = retry_after_seconds(response.headers)
        try:
            status = OperationStatus(str(payload.get("status")))
        except ValueError:
            raise invalid_body_error(response.status_code, "unknown operation status") from None
        if status is OperationStatus.SUCCEEDED:
            result: Any = payload.get("result")
            data = result.get("data") if isinstance(result, dict) else None
            return OperationState(status, images=images_from(data, response.status_code))
        if status in (OperationStatus.FAILED, OperationStatus.CANCELED):
            err = payload.get("error")
            return OperationState(
                status,
                error=classify_operation_failure(
                    status.value, err if isinstance(err, dict) else None
                ),
            )
        return OperationState(status, retry_after_s=retry_after)

    async def delete_operation(self, operation_url: str) -> None:
        """Idempotent: an operation that is already gone (404) counts as deleted."""
        url = self._same_origin(operation_url)
        await self._send(
            "DELETE", url, limits=self.poll_timeout, operation=True, ok=(200, 202, 204, 404)
        )
