"""What a completion notification says: the job's result, with links, never a SAS URL.

The job's output keeps blob names only; a notification adds the app's own signed links
(shared/links.py: the status link and ``/api/status/{id}/images/{index}`` redirects, which hand
out a fresh short-lived SAS) instead of SAS URLs: the receiver needs no key to follow them, and
they open this job only, read-only, until they expire. Anything in the result that still looks
signed is dropped as a last line of defence, before the app's own links are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.links import Signature, image_link, status_link

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
    job_id: str, result: Mapping[str, Any], signature: Signature, base_url: str = ""
) -> dict[str, Any]:
    """The JSON posted to a callback and put on the results queue.

    ``{"id", "status", ... the job's output ..., "statusQueryGetUri", "images": [{..., "url"}]}``
    where ``statusQueryGetUri`` is the job's signed status link and each image ``url`` its signed
    redirect ``/api/status/{id}/images/{index}``, both under ``signature`` (made for ``job_id``).
    """
    body: dict[str, Any] = scrub(dict(result))
    body["id"] = job_id  # the signature's job: never another id the result might name
    api = f"{base_url}/api"
    body["statusQueryGetUri"] = status_link(api, job_id, signature)
    images = body.get("images")
    if isinstance(images, list):
        linked = []
        for index, image in enumerate(images):
            entry = dict(image) if isinstance(image, Mapping) else {"value": image}
            entry["url"] = image_link(api, job_id, index, signature)
            linked.append(entry)
        body["images"] = linked
    body.pop("notification", None)
    return body
