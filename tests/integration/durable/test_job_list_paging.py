"""`list_jobs` (shared/job_list.py) against the devstack Durable engine, through the real
DurableOrchestrationClient: the engine answers a list query 100 at a time, as Azure does, and in
its own order (oldest first), and the pager still pages over every job newest first.

Instances are started and run for real; their created times are then moved back in the engine's
store, so a few minutes of test span days of jobs.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import httpx
import pytest

from devstack.durable.http_api import DEFAULT_PAGE_SIZE
from shared.job_list import JobPage, list_jobs, parse_list_query

from .dfapp_invoker import DFAppInvoker

app = df.DFApp()
DAY = 86400.0


@app.orchestration_trigger(context_name="context")
def image_job(context: df.DurableOrchestrationContext) -> Any:
    """Stands in for the app's orchestrator: its input and output have the app's shape."""
    job = context.get_input()
    if job.get("wait"):
        yield context.wait_for_external_event("go")
    return {
        "id": job["id"],
        "status": "succeeded",
        "model": job["model"],
        "prompt": job["params"]["prompt"],
        "created": job["created"],
        "completed": job["created"],
        "images": [{"blob": f"{job['id']}/0.png"}],
    }


@app.orchestration_trigger(context_name="context")
def other_job(context: df.DurableOrchestrationContext) -> Any:
    """Another orchestrator of the same app: never listed."""
    return {"status": "succeeded", "model": "x", "prompt": "x"}


@pytest.fixture(scope="module")
def invoker() -> DFAppInvoker:
    """The folder's `durable` engine, running this module's app instead of the sample app."""
    return DFAppInvoker(app)


def job_input(iid: str, wait: bool = False) -> dict[str, Any]:
    return {
        "id": iid,
        "model": "gpt-image-2",
        "params": {"prompt": f"prompt of {iid}", "n": 1},
        "created": datetime.now(UTC).isoformat(),
        "wait": wait,
    }


async def test_list_jobs_pages_newest_first_over_the_engines_100_cap(durable):
    now = time.time()
    # created time (epoch s) per instance: 105 in the last hour (one answer cannot hold them),
    # a tie within one second, some over days, one past the 90-day floor.
    created: dict[str, float] = {f"hour-{k:03d}": now - 600 - 5 * k for k in range(105)}
    created |= {f"day-{k:02d}": now - k * DAY - 3 * 3600 for k in range(1, 21)}
    created |= {"tie-a": now - 4 * DAY + 0.1, "tie-b": now - 4 * DAY + 0.2}
    created["ancient"] = now - 91 * DAY
    waiting = {f"wait-{k}": now - 2 * 3600 - 60 * k for k in range(3)}
    others = {f"other-{k}": now - 900 - k for k in range(2)}

    for iid in created:
        await durable.client.start_new("image_job", iid, job_input(iid))
    for iid in waiting:
        await durable.client.start_new("image_job", iid, job_input(iid, wait=True))
    for iid in others:
        await durable.client.start_new("other_job", iid, None)
    await asyncio.gather(*(durable.done(i, limit=60) for i in [*created, *others]))
    await asyncio.gather(*(durable.wait_for(i, "Running") for i in waiting))
    everything = created | waiting | others
    with durable.engine.store.tx():
        for iid, ts in everything.items():
            durable.engine.store.update_instance(iid, created_time=ts)

    # The engine answers 100 of a query, as Azure does; the SDK sees those and no more.
    assert len(await durable.client.get_status_all()) == DEFAULT_PAGE_SIZE == 100
    async with httpx.AsyncClient(base_url=durable.base_url) as http:
        url = "/runtime/webhooks/durabletask/instances/"
        first = await http.get(url)
        assert len(first.json()) == 100
        header = first.headers["x-ms-continuation-token"]
        rest = await http.get(url, headers={"x-ms-continuation-token": header})
        assert len(rest.json()) == len(everything) - 100
        assert "x-ms-continuation-token" not in rest.headers
        sized = await http.get(url, params={"top": "30"})
        assert len(sized.json()) == 30
        assert sized.headers["x-ms-continuation-token"] == "30"
        assert (await http.get(url, params={"top": "0"})).status_code == 400
        # The engine's own order is oldest first: the 100 it answers of the last hour are the
        # oldest 100 of it, never the newest a page needs.
        answered = [s["createdTime"] for s in first.json()]
        assert answered == sorted(answered)

    listed = [s for s in created if s != "ancient"] + list(waiting)
    expected = sorted(listed, key=lambda i: (int(everything[i]), i), reverse=True)
    pages: list[JobPage] = []
    token: str | None = None
    while True:
        params = {"top": "7"} | ({"continuationToken": token} if token else {})
        page = await list_jobs(durable.client, parse_list_query(params), datetime.now(UTC))
        pages.append(page)
        token = page.continuationToken
        if token is None:
            break
        assert len(pages) < 40
    jobs = [j for page in pages for j in page.jobs]
    assert [j.id for j in jobs] == expected
    assert all(len(page.jobs) == 7 for page in pages[:-1])
    running = {j.id: j for j in jobs if j.status == "running"}
    assert set(running) == set(waiting)
    assert running["wait-1"].prompt == "prompt of wait-1"  # read with show_input for the page
    assert {j.status for j in jobs if j.id not in waiting} == {"succeeded"}
    assert all(j.images == 1 and j.model == "gpt-image-2" for j in jobs if j.id in created)

    only_running = await list_jobs(
        durable.client, parse_list_query({"status": "running"}), datetime.now(UTC)
    )
    assert [j.id for j in only_running.jobs] == ["wait-0", "wait-1", "wait-2"]
    for iid in waiting:
        await durable.client.raise_event(iid, "go", None)
