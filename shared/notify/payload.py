"""What a completion notification says: the job's result, with links, never a signed URL.

The job's output keeps blob names only; a notification adds the app's own links (the status URL
and ``/api/images/{id}/{index}`` redirects, which hand out a fresh short-lived SAS only to a caller
with a function key) instead of SAS URLs, which would stay valid for whoever reads the receiver's
logs. Anything that still looks signed is dropped as a last line of defence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

_SIGNED_MARKERS = ("sig=", "signature=", "x-functions-key", "code=")


def _looks_signed(value: str) -> bool:
    lowered = value.lower()
    return "?" in lowered and any(marker in lowered for marker in _SIGNED_MARKERS)


def scrub(value: Any) -> Any:
    """A deep copy of ``value`` without any string that carries a signature or key."""
    if isinstance(value, Mapping):
        return {
            k: scrub(v) for k, v in value.items() if not (isinstance(v, str) and _looks_signed(v))
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value if not (isinstance(v, str) and _looks_signed(v))]
    return value


def completion_payload(
    job_id: str, result: Mapping[str, Any], base_url: str = ""
) -> dict[str, Any]:
    """The JSON posted to a callback and put on the results queue.

    ``{"id", "status", ... the job's output ..., "statusQueryGetUri", "images": [{..., "url"}]}``
    where each image ``url`` is the app's redirect ``/api/images/{id}/{index}``.
    """
    body: dict[str, Any] = scrub(dict(result))
    body["id"] = str(result.get("id") or job_id)
    quoted = quote(body["id"], safe="")
    body["statusQueryGetUri"] = f"{base_url}/api/images/{quoted}"
    images = body.get("images")
    if isinstance(images, list):
        linked = []
        for index, image in enumerate(images):
            entry = dict(image) if isinstance(image, Mapping) else {"value": image}
            entry["url"] = f"{base_url}/api/images/{quoted}/{index}"
            linked.append(entry)
        body["images"] = linked
    body.pop("notification", None)
    return body
