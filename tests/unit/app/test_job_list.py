"""`GET /api/images`'s logic (shared/job_list.py): the query, the continuation token, the pager.

The pager runs against `FakeDurable`, an in-memory stand-in of `get_status_by` that answers as
Azure's Durable HTTP API does through azure-functions-durable 1.7: both created-time bounds
inclusive and compared at full precision, at most 100 statuses (the rest dropped, as the SDK
drops the continuation header), in an order that is not created order (a hash of the id), and
`createdTime` to the second. The real engine: tests/integration/durable/test_job_list_paging.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from shared import job_list
from shared.job_list import (
    LOOKBACK,
    MAX_QUERIES,
    MAX_TOKEN_CHARS,
    PAGE_CAP,
    Cursor,
    JobPage,
    list_jobs,
    parse_list_query,
    shorten,
)
from shared.models import RequestError

NOW = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)


# ---- the stand-in --------------------------------------------------------------------------


@dataclass
class Instance:
    id: str
    created: datetime  # the instance's full created time (the backend compares this one)
    runtime: str = "Completed"
    name: str = "image_job"
    input: Any = None
    output: Any = None
    custom: Any = None
    updated: datetime | None = None


@dataclass
class FakeDurable:
    instances: list[Instance]
    list_includes_input: bool = False
    calls: list[tuple[datetime, datetime, int]] = field(default_factory=list)
    input_reads: list[str] = field(default_factory=list)
    active: int = 0
    most_active: int = 0

    def _json(self, inst: Instance, show_input: bool) -> dict[str, Any]:
        second = "%Y-%m-%dT%H:%M:%SZ"  # as the extension formats status times
        return {
            "name": inst.name,
            "instanceId": inst.id,
            "runtimeStatus": inst.runtime,
            "input": inst.input if show_input else None,
            "output": inst.output,
            "customStatus": inst.custom,
            "createdTime": inst.created.strftime(second),
            "lastUpdatedTime": (inst.updated or inst.created).strftime(second),
        }

    async def get_status_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[Any] | None = None,
        instance_id_prefix: str | None = None,
    ) -> list[DurableOrchestrationStatus]:
        assert created_time_from is not None
        assert created_time_to is not None
        # The SDK formats the bounds '%Y-%m-%dT%H:%M:%S.%fZ' as they are: UTC or wrong.
        assert created_time_from.utcoffset() == timedelta(0)
        assert created_time_to.utcoffset() == timedelta(0)
        wanted = None if runtime_status is None else {rs.value for rs in runtime_status}
        hits = [
            i
            for i in self.instances
            if created_time_from <= i.created <= created_time_to
            and (wanted is None or i.runtime in wanted)
        ]
        hits.sort(key=lambda i: hashlib.sha256(i.id.encode()).hexdigest())
        page = hits[:PAGE_CAP]
        self.calls.append((created_time_from, created_time_to, len(page)))
        return [
            DurableOrchestrationStatus.from_json(self._json(i, self.list_includes_input))
            for i in page
        ]

    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = False,
    ) -> DurableOrchestrationStatus:
        assert show_input
        self.input_reads.append(instance_id)
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(0.001)
        finally:
            self.active -= 1
        found = [i for i in self.instances if i.id == instance_id]
        return DurableOrchestrationStatus.from_json(self._json(found[0], True) if found else {})


def job(
    iid: str,
    created: datetime,
    status: str = "succeeded",
    *,
    runtime: str | None = None,
    prompt: str = "a badger wearing a tuxedo",
    images: int = 1,
    n: int = 1,
    error: str | None = None,
    custom: Any = None,
) -> Instance:
    """An image_job instance: `status` is the API status, `runtime` the Durable one."""
    job_input = {
        "id": iid,
        "model": "gpt-image-2",
        "params": {"prompt": prompt, "n": n},
        "created": created.isoformat(),
    }
    if runtime is None:
        runtime = {"pending": "Pending", "running": "Running"}.get(status, "Completed")
    output: Any = None
    if runtime == "Completed":
        output = {
            "id": iid,
            "status": status,
            "model": "gpt-image-2",
            "prompt": prompt,
            "created": created.isoformat(),
            "completed": (created + timedelta(seconds=20)).isoformat(),
            "images": [{"blob": f"{iid}/{k}.png"} for k in range(images)],
        }
        if error is not None:
            output["error"] = {"code": error, "message": "it went wrong"}
    elif runtime in ("Failed", "Terminated"):
        output = "the orchestrator said no"
    return Instance(
        iid,
        created,
        runtime,
        input=job_input,
        output=output,
        custom=custom,
        updated=created + timedelta(seconds=30),
    )


def newest_first(instances: list[Instance]) -> list[str]:
    """The order the list promises: created second descending, then id descending."""
    key = {i.id: (i.created.replace(microsecond=0), i.id) for i in instances}
    return sorted(key, key=key.__getitem__, reverse=True)


async def every_page(
    client: FakeDurable, top: int = 7, status: str | None = None, now: datetime = NOW
) -> list[JobPage]:
    pages: list[JobPage] = []
    token: str | None = None
    while True:
        params = {"top": str(top)}
        if status is not None:
            params["status"] = status
        if token is not None:
            params["continuationToken"] = token
        page = await list_jobs(client, parse_list_query(params), now)
        pages.append(page)
        token = page.continuationToken
        if token is None:
            return pages
        assert len(token) < 200
        assert len(pages) < 500, "paging does not end"


def listed(pages: list[JobPage]) -> list[str]:
    return [j.id for page in pages for j in page.jobs]


# ---- the query -----------------------------------------------------------------------------


def test_defaults_and_ignored_parameters():
    query = parse_list_query({})
    assert (query.top, query.status, query.continuationToken) == (20, None, None)
    # The function key rides in the query string; empty values are "not given".
    query = parse_list_query({"code": "key==", "top": "", "status": "", "continuationToken": ""})
    assert (query.top, query.status, query.continuationToken) == (20, None, None)
    query = parse_list_query({"top": "50", "status": " running ,failed,running"})
    assert query.top == 50
    assert query.status == frozenset({"running", "failed"})
    assert parse_list_query({"top": "007"}).top == 7


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"top": "0"}, "top"),
        ({"top": "51"}, "top"),
        ({"top": "abc"}, "top"),
        ({"top": "-1"}, "top"),
        ({"top": "+5"}, "top"),
        ({"top": "1.5"}, "top"),
        ({"top": "1e1"}, "top"),
        ({"top": " 5"}, "top"),
        ({"top": "٣"}, "top"),  # a digit to str.isdigit(), not to the API
        ({"top": "9" * 5000}, "top"),
        ({"status": "done"}, "status"),
        ({"status": "Running"}, "status"),
        ({"status": "running,"}, "status"),
        ({"status": "running;failed"}, "status"),
        ({"status": "x" * 10_000}, "status"),
        ({"continuationToken": "not a token!"}, "continuationToken"),
        ({"top": "10", "continuationToken": "A" * 5000}, "continuationToken"),
    ],
)
def test_a_bad_value_is_a_400_naming_its_parameter(params, name):
    with pytest.raises(RequestError) as caught:
        parse_list_query(params)
    error = caught.value
    assert (error.status, error.code, error.field) == (400, "invalid_request", name)
    assert error.body()["error"]["field"] == name
    assert error.message.startswith(name)
    assert len(error.message) < 200  # a long value is not echoed back whole


def test_the_error_says_what_is_accepted():
    with pytest.raises(RequestError, match="from 1 to 50"):
        parse_list_query({"top": "99"})
    with pytest.raises(RequestError, match="pending, running, succeeded, failed, canceled"):
        parse_list_query({"status": "done"})


# ---- the continuation token ----------------------------------------------------------------


def _token(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_token_round_trip_and_size():
    second = datetime(2026, 2, 27, 8, 30, 5, tzinfo=UTC)
    for cursor in (Cursor(time=second, after_id="abc-123"), Cursor(time=second)):
        token = cursor.token()
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert parse_list_query({"continuationToken": token}).continuationToken == cursor
    # The largest token there can be: the last second, the longest id.
    largest = Cursor(time=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), after_id="a" * 100)
    assert len(largest.token()) <= 200 < MAX_TOKEN_CHARS
    assert parse_list_query({"continuationToken": largest.token()}).continuationToken == largest


@pytest.mark.parametrize(
    "token",
    [
        _token({"v": 2, "t": 1_700_000_000}),
        _token({"v": True, "t": 1_700_000_000}),
        _token({"v": "1", "t": 1_700_000_000}),
        _token({"v": 1, "t": -1}),
        _token({"v": 1, "t": True}),
        _token({"v": 1, "t": 1.5}),
        _token({"v": 1, "t": "1700000000"}),
        _token({"v": 1, "t": 10**20}),
        _token({"v": 1}),
        _token({"t": 1_700_000_000}),
        _token({"v": 1, "t": 1_700_000_000, "id": None}),
        _token({"v": 1, "t": 1_700_000_000, "id": "../etc"}),
        _token({"v": 1, "t": 1_700_000_000, "id": "x" * 101}),
        _token({"v": 1, "t": 1_700_000_000, "id": "ok", "more": 1}),
        _token([1, 1_700_000_000]),
        _token("v1"),
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe{}").decode(),
        base64.urlsafe_b64encode(b'{"v":1,"t":17').decode(),
        "a",  # 4k+1 characters: not base64 at all
        _token({"v": 1, "t": 1_700_000_000, "id": "a" * 60, "pad": "b" * 200}),  # oversized
        "=" * 8,
        "eyJ2IjoxLCJ0IjoxNzAwMDAwMDAwfQ==",  # padding is never sent: not ours
    ],
)
def test_a_token_we_did_not_make_is_a_400(token):
    with pytest.raises(RequestError) as caught:
        parse_list_query({"continuationToken": token})
    assert (caught.value.status, caught.value.field) == (400, "continuationToken")


def test_a_tampered_token_is_a_400():
    cursor = Cursor(time=datetime(2026, 2, 27, tzinfo=UTC), after_id="job-1")
    token = cursor.token()
    fields: set[str | None] = set()
    for at in range(0, len(token) - 2):  # the last characters only carry padding bits
        for other in "A_-z9":
            changed = token[:at] + other + token[at + 1 :]
            if changed == token:
                continue
            try:
                query = parse_list_query({"continuationToken": changed})
            except RequestError as exc:
                fields.add(exc.field)
            else:  # a change that still decodes to a valid token is only another cursor
                assert query.continuationToken is not None
                assert query.continuationToken != cursor, changed
    assert fields == {"continuationToken"}


# ---- the pager ------------------------------------------------------------------------------


def _spread(rng: random.Random, count: int, span: timedelta, prefix: str) -> list[Instance]:
    statuses = ["succeeded"] * 6 + ["failed", "canceled", "running", "pending"]
    return [
        job(
            f"{prefix}{k:04d}",
            NOW - timedelta(microseconds=rng.randrange(int(span.total_seconds() * 1e6))),
            rng.choice(statuses),
        )
        for k in range(count)
    ]


async def test_pages_of_seven_cover_250_jobs_across_days_once_newest_first():
    rng = random.Random(250)
    instances = _spread(rng, 230, timedelta(days=60), "job-")
    # and 20 created within the same second (ids in no particular order)
    second = NOW - timedelta(days=3, seconds=0.3)
    instances += [
        job(f"same-{rng.randrange(10**6):06d}-{k}", second + timedelta(microseconds=k * 1000))
        for k in range(20)
    ]
    client = FakeDurable(instances)
    pages = await every_page(client, top=7)

    ids = listed(pages)
    assert ids == newest_first(instances)
    assert len(ids) == len(set(ids)) == 250
    assert all(len(page.jobs) == 7 for page in pages[:-1])
    assert 1 <= len(pages[-1].jobs) <= 7
    created = [j.created for page in pages for j in page.jobs]
    assert created == sorted(created, reverse=True)
    assert max(count for _, _, count in client.calls) <= PAGE_CAP


async def test_a_window_of_more_than_100_is_split_and_nothing_is_lost():
    rng = random.Random(300)
    instances = _spread(rng, 300, timedelta(minutes=30), "burst-")
    client = FakeDurable(instances)

    first = await list_jobs(client, parse_list_query({"top": "50"}), NOW)

    assert [j.id for j in first.jobs] == newest_first(instances)[:50]
    widths = [hi - lo for lo, hi, _ in client.calls]
    assert client.calls[0][2] == PAGE_CAP  # the first hour was cut ...
    assert min(widths) < timedelta(minutes=30)  # ... so its halves were asked
    assert listed(await every_page(client, top=50)) == newest_first(instances)


async def test_more_than_100_jobs_in_one_second_are_all_listed():
    start = NOW.replace(microsecond=0) - timedelta(hours=5)
    instances = [job(f"dense-{k:03d}", start + timedelta(milliseconds=4 * k)) for k in range(150)]
    instances.append(job("before", start - timedelta(seconds=1)))
    instances.append(job("after", start + timedelta(seconds=1)))
    client = FakeDurable(instances)

    pages = await every_page(client, top=9)

    assert listed(pages) == newest_first(instances)
    assert {j.created for page in pages for j in page.jobs if j.id.startswith("dense")} == {
        start.isoformat()
    }


async def test_equal_created_times_across_a_page_boundary():
    second = NOW.replace(microsecond=0) - timedelta(minutes=10)
    same = [job(f"tie-{c}", second + timedelta(microseconds=m)) for m, c in enumerate("qbxfmc")]
    older = [job("older", second - timedelta(seconds=1))]
    newer = [job("newer", second + timedelta(seconds=1))]
    client = FakeDurable(same + older + newer)

    pages = await every_page(client, top=3)

    assert [[j.id for j in p.jobs] for p in pages] == [
        ["newer", "tie-x", "tie-q"],
        ["tie-m", "tie-f", "tie-c"],
        ["tie-b", "older"],
    ]
    second_page = parse_list_query({"continuationToken": pages[0].continuationToken or ""})
    assert second_page.continuationToken == Cursor(time=second, after_id="tie-q")


async def test_jobs_older_than_the_lookback_floor_are_not_listed_and_paging_ends():
    inside = job("inside", NOW - LOOKBACK + timedelta(minutes=5))
    outside = job("outside", NOW - LOOKBACK - timedelta(minutes=5))
    recent = [job(f"recent-{k}", NOW - timedelta(days=k)) for k in range(5)]
    client = FakeDurable([inside, outside, *recent])

    pages = await every_page(client, top=2)

    assert listed(pages) == [*(f"recent-{k}" for k in range(5)), "inside"]
    assert pages[-1].continuationToken is None
    floor = NOW - LOOKBACK
    assert all(lo >= floor for lo, _, _ in client.calls)
    # A cursor older than the floor: nothing more, no query at all.
    client.calls.clear()
    old = Cursor(time=(NOW - LOOKBACK - timedelta(days=1)).replace(microsecond=0)).token()
    page = await list_jobs(client, parse_list_query({"continuationToken": old}), NOW)
    assert page == JobPage(jobs=[])
    assert client.calls == []


async def test_an_empty_store_ends_at_the_floor_in_a_few_queries():
    client = FakeDurable([])
    page = await list_jobs(client, parse_list_query({}), NOW)
    assert page == JobPage(jobs=[])
    assert len(client.calls) <= 12  # 1 h, 2 h, 4 h ... 90 days
    assert client.calls[-1][0] <= NOW - LOOKBACK + timedelta(seconds=1)


def _zoo() -> list[Instance]:
    """One of each: API status × the runtime statuses it is found under."""
    t = NOW - timedelta(hours=2)

    def at(k: int) -> datetime:
        return t - timedelta(minutes=k)

    return [
        job("ok", at(0), "succeeded", images=2),
        job("bad", at(1), "failed", error="content_filter", images=0),
        job("crashed", at(2), "failed", runtime="Failed"),
        job("stopped", at(3), "failed", runtime="Terminated"),
        job("called-off", at(4), "canceled", error="canceled", images=0),
        job("waiting", at(5), "pending"),
        job("busy", at(6), "running", custom={"stage": "generating", "images_total": 3}),
        job("held", at(7), "running", runtime="Suspended"),
        job("again", at(8), "running", runtime="ContinuedAsNew"),
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("succeeded", ["ok"]),
        ("failed", ["bad", "crashed", "stopped"]),
        ("canceled", ["called-off"]),
        ("pending", ["waiting"]),
        ("running", ["busy", "held", "again"]),
        ("running,pending", ["waiting", "busy", "held", "again"]),
        ("succeeded,canceled,failed", ["ok", "bad", "crashed", "stopped", "called-off"]),
    ],
)
async def test_status_filters(status, expected):
    client = FakeDurable(_zoo())
    pages = await every_page(client, top=2, status=status)
    assert sorted(listed(pages)) == sorted(expected)
    assert all(j.status in status.split(",") for page in pages for j in page.jobs)


async def test_what_each_job_shows():
    long_prompt = "a badger  wearing\na tuxedo " * 20
    instances = [
        *_zoo(),
        job("wordy", NOW - timedelta(minutes=1), prompt=long_prompt, images=3),
        job("first", NOW - timedelta(minutes=2), "pending", n=4),
    ]
    client = FakeDurable(instances)
    page = await list_jobs(client, parse_list_query({"top": "50"}), NOW)
    shown = {j.id: j.model_dump(exclude_none=True) for j in page.jobs}

    wordy = shown["wordy"]
    assert len(wordy["prompt"]) == 100
    assert wordy["prompt"].endswith("…")
    assert wordy["prompt"].startswith("a badger wearing a tuxedo a badger")
    assert wordy["images"] == 3
    ok = shown["ok"]
    assert ok == {
        "id": "ok",
        "status": "succeeded",
        "created": (NOW - timedelta(hours=2)).replace(microsecond=0).isoformat(),
        "completed": (NOW - timedelta(hours=2) + timedelta(seconds=20)).isoformat(),
        "model": "gpt-image-2",
        "prompt": "a badger wearing a tuxedo",
        "images": 2,
    }
    assert (shown["bad"]["error_code"], shown["bad"]["images"]) == ("content_filter", 0)
    assert shown["called-off"]["error_code"] == "canceled"
    assert shown["crashed"]["error_code"] == "internal_error"
    assert shown["stopped"]["error_code"] == "job_terminated"
    assert "completed" in shown["stopped"]
    assert "error_code" not in shown["busy"]
    assert "completed" not in shown["busy"]
    # a running job: its progress (from customStatus); model and prompt from its input
    assert (shown["busy"]["images"], shown["busy"]["images_total"]) == (0, 3)
    assert shown["busy"]["prompt"] == "a badger wearing a tuxedo"
    assert shown["first"]["images_total"] == 4  # no progress yet: the input's n
    assert shown["held"]["model"] == "gpt-image-2"
    # Inputs were read for the page's unfinished jobs only (a finished job's output has it all).
    assert sorted(client.input_reads) == sorted(
        ["crashed", "stopped", "waiting", "busy", "held", "again", "first"]
    )


async def test_inputs_are_read_for_the_page_only_and_a_few_at_a_time():
    instances = [job(f"run-{k:02d}", NOW - timedelta(minutes=k), "running") for k in range(40)]
    client = FakeDurable(instances)
    page = await list_jobs(client, parse_list_query({"top": "30"}), NOW)
    assert len(page.jobs) == 30
    assert sorted(client.input_reads) == sorted(j.id for j in page.jobs)
    assert 1 < client.most_active <= job_list.INPUT_FETCHES
    assert all(j.prompt == "a badger wearing a tuxedo" for j in page.jobs)


async def test_an_input_the_backend_included_is_not_read_again():
    instances = [job(f"run-{k}", NOW - timedelta(minutes=k), "running") for k in range(5)]
    client = FakeDurable(instances, list_includes_input=True)
    page = await list_jobs(client, parse_list_query({}), NOW)
    assert [j.model for j in page.jobs] == ["gpt-image-2"] * 5
    assert client.input_reads == []


async def test_other_instances_and_garbage_are_skipped():
    t = NOW - timedelta(minutes=30)
    garbage = [
        Instance("other-app", t, "Completed", name="another_orchestrator", output={"x": 1}),
        Instance("@counter@one", t, "Running", name="counter"),
        Instance("bad id with spaces", t, "Completed", output={"status": "succeeded"}),
        Instance("not-json", t, "Completed", output="{not json"),
        Instance("half", t, "Completed", output={"status": "succeeded", "model": "m"}),
        Instance("unknown-status", t, "Completed", output={**job("u", t).output, "status": "meh"}),
    ]
    odd = job("odd-progress", t, "running", custom="[garbage")
    odd.input = {"garbage": True}  # listed, without what its input would have said
    good = [job(f"good-{k}", t - timedelta(seconds=k)) for k in range(4)]
    client = FakeDurable([*garbage, odd, *good])

    page = await list_jobs(client, parse_list_query({"top": "4"}), NOW)
    assert [j.id for j in page.jobs] == ["odd-progress", "good-0", "good-1", "good-2"]
    assert page.jobs[0].model is None
    assert page.jobs[0].images == 0
    rest = await list_jobs(
        client, parse_list_query({"continuationToken": page.continuationToken or ""}), NOW
    )
    assert [j.id for j in rest.jobs] == ["good-3"]
    assert rest.continuationToken is None


async def test_a_token_is_given_only_when_another_matching_job_exists():
    instances = [job(f"j{k}", NOW - timedelta(hours=k)) for k in range(4)]
    client = FakeDurable(instances)
    page = await list_jobs(client, parse_list_query({"top": "4"}), NOW)
    assert len(page.jobs) == 4
    assert page.continuationToken is None
    page = await list_jobs(client, parse_list_query({"top": "3"}), NOW)
    assert page.continuationToken is not None
    page = await list_jobs(client, parse_list_query({"top": "3", "status": "failed"}), NOW)
    assert page == JobPage(jobs=[])


async def test_a_rare_match_among_many_jobs_costs_bounded_queries_per_page():
    rng = random.Random(3000)
    many = [
        job(f"ok-{k:04d}", NOW - timedelta(microseconds=rng.randrange(3_600_000_000)))
        for k in range(3000)
    ]
    rare = job("the-canceled-one", NOW - timedelta(days=80), "canceled")
    client = FakeDurable([*many, rare])
    pages: list[JobPage] = []
    token: str | None = None
    while True:
        client.calls.clear()
        params = {"top": "5", "status": "canceled"}
        if token:
            params["continuationToken"] = token
        page = await list_jobs(client, parse_list_query(params), NOW)
        assert len(client.calls) <= MAX_QUERIES + 23
        pages.append(page)
        token = page.continuationToken
        if token is None:
            break
        assert len(pages) < 20
    assert len(pages) > 1  # the first page ran out of queries before it found the one
    assert listed(pages) == ["the-canceled-one"]


async def test_a_cursor_ahead_of_the_clock_starts_at_now():
    client = FakeDurable([job("j", NOW - timedelta(minutes=1))])
    ahead = Cursor(time=datetime(2030, 1, 1, tzinfo=UTC), after_id="zzz").token()
    page = await list_jobs(client, parse_list_query({"continuationToken": ahead}), NOW)
    assert [j.id for j in page.jobs] == ["j"]


def test_shorten():
    assert shorten("  short\n prompt ") == "short prompt"
    assert shorten("x" * 100) == "x" * 100
    cut = shorten("x" * 101)
    assert (len(cut), cut[-1]) == (100, "…")
