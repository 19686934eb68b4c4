"""Status links that authenticate themselves: read-only, for one job, expiring.

Power Automate's HTTP action follows a 202's ``Location`` re-applying only its ``authentication``
property — not the ``x-functions-key`` header the POST carried — so on Azure a keyed status route
answers its first poll with 401 (Azure/logicapps#611). Durable's own status URLs solve that by
embedding the extension's system key, which opens every instance of the hub. Ours carry a
signature instead: an HMAC-SHA256, under a secret app setting, over the job id and an expiry, so a
link opens the status (and the images) of that one job until it expires, and nothing else.

``?expires=<unix seconds>&sig=<base64url HMAC>``. Two secrets verify (``STATUS_LINK_SECRET``,
which also signs, and ``STATUS_LINK_SECRET_PREVIOUS``), so the secret can be rotated without
breaking the links already handed out: set the old one as previous, the new one as current, and
drop the previous once the longest link lifetime has passed.

Pure: no settings, clocks or I/O here (shared/settings.py builds the `LinkSigner`; the routes pass
the time).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlencode

SECRET_SETTING = "STATUS_LINK_SECRET"  # noqa: S105  # the setting's name, not a secret
PREVIOUS_SECRET_SETTING = "STATUS_LINK_SECRET_PREVIOUS"  # noqa: S105
TTL_SETTING = "STATUS_LINK_TTL_MINUTES"
MIN_SECRET_CHARS = 32
MIN_SECRET_SYMBOLS = 8  # distinct characters: 32 times 'a' is not a secret
# How long a job may still run after its deadline (notifications' retries, clean-up): a link
# must live at least the deadline plus this.
AFTER_DEADLINE_S = 3600
EXPIRES_PARAM = "expires"
SIGNATURE_PARAM = "sig"
# The signed routes, under the app's route prefix: the status, one image of the job, and the
# latest partial image of one of its images while it is generated.
STATUS_ROUTE = "status/{id}"
IMAGE_ROUTE = "status/{id}/images/{index}"
PREVIEW_ROUTE = "status/{id}/previews/{index}"
FRAME_PARAM = "frame"
VERSION_PARAM = "v"

_PURPOSE = b"image-job-status-link/v1"  # a MAC made for anything else never verifies here
_SIGNATURE_CHARS = 43  # base64url of 32 bytes, unpadded
_MAX_EXPIRES_DIGITS = 12


class LinkProblem(StrEnum):
    """Why a signed link was refused: each a 403, none revealing anything about the job."""

    MISSING = "link_missing"
    INVALID = "link_invalid"
    EXPIRED = "link_expired"

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    LinkProblem.MISSING: (
        f"this route needs a signed link (?{EXPIRES_PARAM}=...&{SIGNATURE_PARAM}=...): follow "
        "the statusQueryGetUri or Location the app answered, or call GET /api/images/{id} with "
        "the function key"
    ),
    LinkProblem.INVALID: (
        "this link's signature is not valid: a link opens only the job it was made for, unchanged"
    ),
    LinkProblem.EXPIRED: (
        "this link has expired: ask GET /api/images/{id} (with the function key) for a fresh one"
    ),
}


@dataclass(frozen=True)
class Signature:
    """The two query parameters of a signed link."""

    expires: int
    sig: str

    def query(self) -> str:
        return urlencode({EXPIRES_PARAM: str(self.expires), SIGNATURE_PARAM: self.sig})


@dataclass(frozen=True, repr=False)
class LinkSigner:
    """Signs status links with ``secret`` and verifies them with it or ``previous``.

    ``repr=False``: a signer printed by accident must not print its secrets."""

    secret: bytes
    previous: bytes | None
    ttl: timedelta

    def __repr__(self) -> str:
        return f"LinkSigner(ttl={self.ttl})"

    def sign(self, job_id: str, now: datetime) -> Signature:
        expires = int((now + self.ttl).timestamp())
        return Signature(expires, _mac(self.secret, job_id, expires))

    def check(
        self, job_id: str, expires: str | None, sig: str | None, now: datetime
    ) -> Signature | LinkProblem:
        """The link's signature when it opens ``job_id`` now, else why not.

        The signature is checked before the expiry, and in constant time against each secret:
        a tampered link is "invalid" whatever its expiry says, and nothing about the job is
        read before the link is known to be ours."""
        if not expires or not sig:
            return LinkProblem.MISSING
        if not (expires.isascii() and expires.isdigit() and len(expires) <= _MAX_EXPIRES_DIGITS):
            return LinkProblem.INVALID
        if len(sig) != _SIGNATURE_CHARS or not sig.isascii():
            return LinkProblem.INVALID
        when = int(expires)
        keys = [self.secret] if self.previous is None else [self.secret, self.previous]
        # Every key is tried (no early exit), so the timing says nothing about which matched.
        matched = [hmac.compare_digest(_mac(key, job_id, when), sig) for key in keys]
        if not any(matched):
            return LinkProblem.INVALID
        if when <= now.timestamp():
            return LinkProblem.EXPIRED
        return Signature(when, sig)


def _mac(key: bytes, job_id: str, expires: int) -> str:
    message = b"\n".join([_PURPOSE, job_id.encode("utf-8", "surrogatepass"), str(expires).encode()])
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def status_link(api_base: str, job_id: str, signature: Signature) -> str:
    """``{api_base}/status/{id}?expires=...&sig=...`` (``api_base`` is the app's origin and route
    prefix, ``https://app.example/api``; empty origin: a root-relative link)."""
    return f"{api_base}/status/{quote(job_id, safe='')}?{signature.query()}"


def image_link(api_base: str, job_id: str, index: int, signature: Signature) -> str:
    """``{api_base}/status/{id}/images/{index}?expires=...&sig=...``: a 302 to a fresh SAS URL."""
    return f"{api_base}/status/{quote(job_id, safe='')}/images/{index}?{signature.query()}"


def preview_link(
    api_base: str, job_id: str, index: int, frame: int, signature: Signature, *, version: str
) -> str:
    """``{api_base}/status/{id}/previews/{index}?frame=F&v=V&expires=...&sig=...``: a 302 to
    the latest partial image. ``frame`` and ``version`` (a token of the preview blob's etag)
    are not signed and not read: they only make the link change whenever the blob does (a
    newer frame, or a retried call's frame 0), so an image element (or a cache) fetches it."""
    job = quote(job_id, safe="")
    changes = f"{FRAME_PARAM}={frame}&{VERSION_PARAM}={quote(version, safe='')}"
    return f"{api_base}/status/{job}/previews/{index}?{changes}&{signature.query()}"
