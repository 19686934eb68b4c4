"""`GET /api/images?top=N&status=...&continuationToken=...`: the jobs, newest first, in pages.

The route parses the query with `parse_list_query` (a `RequestError` naming the query parameter,
a 400) and answers `list_jobs(client, query, now)`, a `JobPage`.

Why the pager looks the way it does. azure-functions-durable 1.7 lists instances only through
`get_status_by(created_time_from, created_time_to, runtime_status)`: no `top`, no continuation
token, no `showInput`. Against Azure the Durable HTTP API then answers the first 100 instances
of the query (its default page size), and the SDK drops the `x-ms-continuation-token` header
that would lead to the rest (azure-functions-durable-python#580, #477). And no backend promises
an order (Azure Storage answers in instance-id order, the devstack oldest first). So the pager
never reads past one answer and never trusts the order of one:

- It walks created-time windows backwards from the cursor (the continuation token's, else `now`):
  the first window 1 hour wide, each next one twice as wide, down to the lookback floor, `LOOKBACK`
  (90 days) before `now`. Older jobs are not listed; they can still be read by id.
- A window that answers `PAGE_CAP` (100) statuses may have been cut: that answer is dropped and
  the window's halves are asked instead, the newer half first, recursively down to `MIN_SPLIT`
  (1 ms; a window that narrow still answering 100 is logged and taken as it is).
- Both ends of a created-time query are inclusive, so neighbouring windows share their boundary
  instant; an instance answered twice counts once (by instance id).
- The status JSON gives `createdTime` to the second (the extension formats it
  `yyyy-MM-ddTHH:mm:ssZ`; the devstack does the same), while the query bounds are compared with
  the instance's full time. So the order is (created second, instance id), newest first, and a
  second is used only once every instant of it has been asked for (a window for the second `s`
  ends at `s + 1 s`).
- It stops once it holds more than `top` matching jobs (so it knows whether another page exists)
  or at the floor, and after `MAX_QUERIES` queries (a filter that matches few of many jobs must
  not make one request scan 90 days): then the page may be short, and the token goes on from the
  oldest second scanned completely.

The continuation token is base64url JSON, `{"v": 1, "t": <created second, epoch>, "id": <last id
returned>}`: in the order above, the jobs of second `t` already returned are exactly those with an
id from `id` up, so the one id stands for all of them and the token stays small (under 200
characters) however many jobs share a second. It is not signed: it only narrows the query. It is
validated strictly (size, alphabet, JSON shape, version, ranges, the id rule); anything else is a
400 naming `continuationToken`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as RS,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.ids import is_job_id
from shared.models import request_error
from shared.orchestration.names import ORCHESTRATOR

log = logging.getLogger(__name__)

ApiStatus = Literal["pending", "running", "succeeded", "failed", "canceled"]
API_STATUSES: tuple[ApiStatus, ...] = ("pending", "running", "succeeded", "failed", "canceled")
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})

# The Durable runtime statuses each API status is found under. A finished job's own status is its
# output's (`Completed` then says only that the orchestrator returned): failed is also what
# Durable itself calls Failed (an unhandled error) or Terminated; Canceled is a runtime status
# Durable reserves and never sets, kept for the day it does.
RUNTIME_STATUSES: dict[str, frozenset[RS]] = {
    "pending": frozenset({RS.Pending}),
    "running": frozenset({RS.Running, RS.ContinuedAsNew, RS.Suspended}),
    "succeeded": frozenset({RS.Completed}),
    "failed": frozenset({RS.Completed, RS.Failed, RS.Terminated}),
    "canceled": frozenset({RS.Completed, RS.Canceled}),
}
# A job that ended without an error of its own: the codes `GET /api/images/{id}` answers with.
_RUNTIME_ERROR_CODES = {
    RS.Failed: "internal_error",
    RS.Terminated: "job_terminated",
    RS.Canceled: "job_canceled",
}

TOP_DEFAULT = 20
TOP_MAX = 50
LOOKBACK = timedelta(days=90)  # jobs created before now minus this are not listed
FIRST_WINDOW = timedelta(hours=1)
PAGE_CAP = 100  # the Durable HTTP API's page size when none is asked for (the SDK asks none)
MIN_SPLIT = timedelta(milliseconds=1)
# get_status_by calls per page, a soft bound: a page always gets past its cursor's second, which
# takes at most the 23 queries of halving the first window (1 hour) down to 1 ms.
MAX_QUERIES = 64
INPUT_FETCHES = 8  # get_status(show_input=True) calls in flight at once
PROMPT_CHARS = 100
TOKEN_VERSION = 1
MAX_TOKEN_CHARS = 256
MAX_STATUS_CHARS = 200
_TOP_DIGITS = 6
_SECOND = timedelta(seconds=1)
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z
_TOP_RULE = f"top must be a whole number from 1 to {TOP_MAX}"
_UNUSABLE = (
    "continuationToken is not one this API gave out (or it was changed): start again without it"
)


class Cursor(BaseModel):
    """Where a page starts: after the job (created second `time`, id `after_id`) in the order
    newest second first, then id descending; `after_id` None: with every job of that second."""

    model_config = ConfigDict(frozen=True)

    time: datetime
    after_id: str | None = None

    def token(self) -> str:
        data: dict[str, Any] = {"v": TOKEN_VERSION, "t": int(self.time.timestamp())}
        if self.after_id is not None:
            data["id"] = self.after_id
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def from_token(cls, token: str) -> Cursor:
        """The cursor a token stands for; ValueError for anything `token()` does not make."""
        if len(token) > MAX_TOKEN_CHARS or not _TOKEN_ALPHABET.fullmatch(token):
            raise ValueError(_UNUSABLE)
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError too
            raise ValueError(_UNUSABLE) from None
        if not isinstance(data, dict) or not {"v", "t"} <= set(data) <= {"v", "t", "id"}:
            raise ValueError(_UNUSABLE)
        version, second = data["v"], data["t"]
        # type(), not isinstance(): JSON's true is a bool, and a bool is an int to isinstance()
        if type(version) is not int or version != TOKEN_VERSION:
            raise ValueError(_UNUSABLE)
        if type(second) is not int or not 0 <= second <= _LAST_SECOND:
            raise ValueError(_UNUSABLE)
        after = data.get("id")
        if "id" in data and not is_job_id(after):
            raise ValueError(_UNUSABLE)
        return cls(time=datetime.fromtimestamp(second, UTC), after_id=after)


class ListQuery(BaseModel):
    """`GET /api/images`'s query; the field names are the query parameters' (a 400 names them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top: int = TOP_DEFAULT
    status: frozenset[ApiStatus] | None = None  # None: every status
    continuationToken: Cursor | None = None

    @field_validator("top", mode="before")
    @classmethod
    def _top(cls, value: Any) -> int:
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit() and len(value) <= _TOP_DIGITS):
                raise ValueError(_TOP_RULE)
            value = int(value)
        if type(value) is not int or not 1 <= value <= TOP_MAX:
            raise ValueError(_TOP_RULE)
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        allowed = ", ".join(API_STATUSES)
        if len(value) > MAX_STATUS_CHARS:
            raise ValueError(f"status is too long: a comma-separated list of {allowed}")
        names = [part.strip() for part in value.split(",")]
        for name in names:
            if name not in API_STATUSES:
                shown = repr(name) if len(name) <= 32 else repr(name[:32]) + "..."
                raise ValueError(
                    f"status has an unknown value {shown}: use a comma-separated list of {allowed}"
                )
        return frozenset(names)

    @field_validator("continuationToken", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        return Cursor.from_token(value) if isinstance(value, str) else value

    def runtime_statuses(self) -> list[RS] | None:
        """What to ask Durable for (None: every runtime status)."""
        if self.status is None:
            return None
        wanted = frozenset().union(*(RUNTIME_STATUSES[s] for s in self.status))
        return sorted(wanted, key=lambda rs: rs.value)

    def wants(self, status: str) -> bool:
        return self.status is None or status in self.status


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """The query string → ListQuery, or a RequestError naming `top`, `status` or
    `continuationToken`. Other parameters (the function key's `code`) are not ours and are
    ignored; an empty value counts as not given (connectors send empty optional parameters)."""
    values = {name: params[name] for name in ListQuery.model_fields if params.get(name)}
    try:
        return ListQuery.model_validate(values)
    except ValidationError as exc:
        raise request_error(exc) from None


# ---- the answer ---------------------------------------------------------------------------------


class JobSummary(BaseModel):
    """One job in the list. `created` is the Durable instance's created time (the list's order);
    `images` counts the stored images of a finished job, and while a job runs its progress'
    images done (of `images_total`). The route answers it with the job's status link
    (shared/job_views.py `JobSummary`)."""

    id: str
    status: ApiStatus
    created: str
    completed: str | None = None
    model: str | None = None
    prompt: str | None = Field(
        default=None, description=f"The prompt, shortened to {PROMPT_CHARS} chars."
    )
    images: int = Field(default=0, description="Images stored (for a running job: so far).")
    images_total: int | None = Field(default=None, description="Images asked for.")
    error_code: str | None = Field(
        default=None, description="The error code of a failed or canceled job."
    )


class JobPage(BaseModel):
    jobs: list[JobSummary]
    continuationToken: str | None = None  # another page exists: pass it back for it


# ---- what is read from a status (loosely: old jobs, new fields, and other apps' instances) -------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Error(_Loose):
    code: str


class _Output(_Loose):
    """What the list needs of JobOutput, read without its other rules (a status it does not know
    yet, an older job's shape)."""

    status: Literal["succeeded", "failed", "canceled"]
    model: str
    prompt: str
    completed: str | None = None
    images: list[Any] = Field(default_factory=list)
    error: _Error | None = None


class _Params(_Loose):
    prompt: str
    n: int | None = None


class _Input(_Loose):
    model: str
    params: _Params


class _Progress(_Loose):
    images_done: int = 0
    images_total: int | None = None


_M = TypeVar("_M", bound=BaseModel)


def _read(model: type[_M], value: Any) -> _M | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


class StatusClient(Protocol):
    """The two DurableOrchestrationClient calls the list makes."""

    async def get_status_by(
        self,
        created_time_from: datetime = ...,
        created_time_to: datetime = ...,
        runtime_status: list[RS] | None = ...,
    ) -> list[Any]: ...

    async def get_status(self, instance_id: str, *, show_input: bool = ...) -> Any: ...


@dataclass(frozen=True)
class _Job:
    id: str
    created: datetime  # the instance's created time, to the second, UTC
    status: ApiStatus
    runtime: RS
    output: _Output | None
    progress: _Progress | None
    last_updated: datetime | None
    input_: Any

    @property
    def key(self) -> tuple[datetime, str]:
        return self.created, self.id


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _second(value: datetime) -> datetime:
    return _utc(value).replace(microsecond=0)


def _ceil_second(value: datetime) -> datetime:
    floor = _second(value)
    return floor if floor == value else floor + _SECOND


def _job(status: Any) -> _Job | None:
    """One status as a job of ours, or None (another orchestrator's, an entity, garbage)."""
    instance_id: Any = getattr(status, "instance_id", None)
    name = getattr(status, "name", None)
    runtime = getattr(status, "runtime_status", None)
    created = getattr(status, "created_time", None)
    if not isinstance(instance_id, str) or not is_job_id(instance_id):
        return None
    if name not in (None, ORCHESTRATOR):
        return None
    if not isinstance(runtime, RS) or not isinstance(created, datetime):
        return None
    output = None
    api: ApiStatus
    if runtime is RS.Completed:
        output = _read(_Output, status.output)
        if output is None:
            return None
        api = output.status
    elif runtime in (RS.Failed, RS.Terminated):
        api = "failed"
    elif runtime is RS.Canceled:
        api = "canceled"
    elif runtime is RS.Pending:
        api = "pending"
    else:
        api = "running"
    updated = getattr(status, "last_updated_time", None)
    return _Job(
        id=instance_id,
        created=_second(created),
        status=api,
        runtime=runtime,
        output=output,
        progress=_read(_Progress, getattr(status, "custom_status", None)),
        last_updated=_utc(updated) if isinstance(updated, datetime) else None,
        input_=getattr(status, "input_", None),
    )


# ---- the pager ----------------------------------------------------------------------------------


class _Pager:
    """One page's walk over created-time windows (see the module docstring)."""

    def __init__(
        self, client: StatusClient, query: ListQuery, cursor: Cursor, floor: datetime
    ) -> None:
        self.client = client
        self.query = query
        self.cursor = cursor
        self.floor = floor
        self.runtime = query.runtime_statuses()
        self.held: dict[str, _Job] = {}
        self.queries = 0
        # Every instance created at or after this instant (up to the cursor) has been seen.
        self.covered = cursor.time + _SECOND
        self.enough = False
        self.out_of_queries = False

    @property
    def done(self) -> bool:
        return self.enough or self.out_of_queries

    def complete(self) -> list[_Job]:
        """The jobs held in seconds scanned completely, newest first."""
        start = _ceil_second(self.covered)
        jobs = [job for job in self.held.values() if job.created >= start]
        return sorted(jobs, key=lambda job: job.key, reverse=True)

    def _after_cursor(self, job: _Job) -> bool:
        if job.created != self.cursor.time:
            return job.created < self.cursor.time
        return self.cursor.after_id is None or job.id < self.cursor.after_id

    def _take(self, statuses: Sequence[Any]) -> None:
        for status in statuses:
            job = _job(status)
            if job is not None and self.query.wants(job.status) and self._after_cursor(job):
                self.held[job.id] = job

    async def _scan(self, lo: datetime, hi: datetime) -> None:
        """Everything created in [lo, hi], the newer half first when one answer is cut."""
        if self.done:
            return
        if self.queries >= MAX_QUERIES and _ceil_second(self.covered) <= self.cursor.time:
            # Out of queries, and past the cursor's own second: the next page goes on from here.
            self.out_of_queries = True
            return
        self.queries += 1
        statuses = await self.client.get_status_by(
            created_time_from=lo, created_time_to=hi, runtime_status=self.runtime
        )
        if len(statuses) >= PAGE_CAP:
            if hi - lo > MIN_SPLIT:
                mid = lo + (hi - lo) / 2
                await self._scan(mid, hi)
                await self._scan(lo, mid)
                return
            log.warning(
                "%d or more instances created between %s and %s: the job list may miss some",
                len(statuses),
                lo.isoformat(),
                hi.isoformat(),
            )
        self._take(statuses)
        self.covered = min(self.covered, lo)
        start = _ceil_second(self.covered)
        self.enough = sum(job.created >= start for job in self.held.values()) > self.query.top

    async def run(self) -> tuple[list[_Job], Cursor | None]:
        """The page's jobs and the cursor of the next page (None: this is the last)."""
        hi = self.cursor.time + _SECOND  # the whole of the cursor's second
        width = FIRST_WINDOW
        while hi > self.floor and not self.done:
            lo = max(hi - width, self.floor)
            await self._scan(lo, hi)
            hi, width = lo, width * 2
        jobs = self.complete()
        top = self.query.top
        if len(jobs) > top:
            last = jobs[top - 1]
            return jobs[:top], Cursor(time=last.created, after_id=last.id)
        start = _ceil_second(self.covered)
        if self.out_of_queries and start > self.floor:
            return jobs, Cursor(time=start - _SECOND)
        return jobs, None


# ---- the page -----------------------------------------------------------------------------------


def shorten(prompt: str, limit: int = PROMPT_CHARS) -> str:
    """A prompt for a list: whitespace runs as one space, at most `limit` characters (the last an
    ellipsis when it was cut)."""
    text = " ".join(prompt.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _summary(job: _Job, given: _Input | None) -> JobSummary:
    out = job.output
    summary = JobSummary(id=job.id, status=job.status, created=job.created.isoformat())
    if out is not None:
        summary.model, summary.prompt = out.model, shorten(out.prompt)
        summary.completed = out.completed
        summary.images = len(out.images)
    elif given is not None:
        summary.model, summary.prompt = given.model, shorten(given.params.prompt)
    if job.status in FINISHED:
        if out is None and job.last_updated is not None:
            summary.completed = job.last_updated.isoformat()
        if job.status != "succeeded":
            if out is not None and out.error is not None:
                summary.error_code = out.error.code
            elif out is not None:
                canceled = job.status == "canceled"
                summary.error_code = "job_canceled" if canceled else "internal_error"
            else:
                summary.error_code = _RUNTIME_ERROR_CODES.get(job.runtime, "internal_error")
    else:
        if job.progress is not None:
            summary.images = job.progress.images_done
            summary.images_total = job.progress.images_total
        if summary.images_total is None and given is not None:
            summary.images_total = given.params.n
    return summary


async def _inputs(client: StatusClient, jobs: Sequence[_Job]) -> dict[str, _Input | None]:
    """The inputs of the jobs without an output (model and prompt are in it): from the list's
    answer when the backend included it, else read one by one, INPUT_FETCHES at a time."""
    gate = asyncio.Semaphore(INPUT_FETCHES)

    async def read(job: _Job) -> tuple[str, _Input | None]:
        raw = job.input_
        if raw is None:
            async with gate:
                status = await client.get_status(job.id, show_input=True)
            raw = getattr(status, "input_", None)
        return job.id, _read(_Input, raw)

    pairs = await asyncio.gather(*(read(job) for job in jobs if job.output is None))
    return dict(pairs)


async def list_jobs(client: StatusClient, query: ListQuery, now: datetime) -> JobPage:
    """The page of jobs `query` asks for, newest first, created in the `LOOKBACK` before `now`."""
    newest = _second(now)
    floor = _ceil_second(_utc(now) - LOOKBACK)
    cursor = query.continuationToken or Cursor(time=newest)
    if cursor.time > newest:  # a token from a clock ahead of ours
        cursor = Cursor(time=newest)
    jobs, following = await _Pager(client, query, cursor, floor).run()
    given = await _inputs(client, jobs)
    return JobPage(
        jobs=[_summary(job, given.get(job.id)) for job in jobs],
        continuationToken=following.token() if following is not None else None,
    )


__all__ = [
    "API_STATUSES",
    "LOOKBACK",
    "PAGE_CAP",
    "TOP_DEFAULT",
    "TOP_MAX",
    "Cursor",
    "JobPage",
    "JobSummary",
    "ListQuery",
    "list_jobs",
    "parse_list_query",
    "shorten",
]
