"""The legacy DALL-E 2 flow: submit, poll the operation-location, read the result, delete."""

from __future__ import annotations

import httpx

from devstack.emulator.images import render
from tests.integration.emulator.support import ASYNC_VERSION, Emu, b64_image

ORDER = ["notRunning", "running", "succeeded"]


def _done(body: dict) -> bool:
    return body["status"] in {"succeeded", "failed", "canceled", "deleted"}


def test_submit_answers_202_with_an_absolute_operation_location(emu: Emu) -> None:
    r = emu.submit({"prompt": "a monkey eating a banana", "size": "256x256", "n": 1})

    assert r.status_code == 202
    body = r.json()
    assert set(body) == {"id", "status", "created"}
    assert body["status"] == "notRunning"
    location = r.headers["operation-location"]
    assert location == (
        f"{emu.base_url}/openai/operations/images/{body['id']}?api-version={ASYNC_VERSION}"
    )
    assert int(r.headers["retry-after"]) >= 0


def test_status_walks_notrunning_running_succeeded_then_delete(emu: Emu) -> None:
    emu.configure(latency_seconds=2.0)
    r = emu.submit({"prompt": "a monkey eating a banana", "size": "256x256", "n": 2})
    location = r.headers["operation-location"]

    seen = emu.poll_until(location, _done)

    statuses = [r.json()["status"]] + [b["status"] for b in seen]
    assert statuses[-1] == "succeeded"
    assert statuses == sorted(statuses, key=ORDER.index)  # never goes backwards
    assert "running" in statuses
    final = seen[-1]
    assert set(final) == {"created", "expires", "id", "result", "status"}
    assert final["expires"] - final["created"] == 86400
    assert set(final["result"]) == {"created", "data"}
    urls = [item["url"] for item in final["result"]["data"]]
    assert len(urls) == 2
    assert [httpx.get(u).content for u in urls] == [
        render("a monkey eating a banana", 256, 256, i, "png", False) for i in range(2)
    ]

    deleted = emu.http.delete(location)
    assert deleted.status_code == 204
    after = emu.http.get(location)
    assert after.status_code == 200
    assert after.json()["status"] == "deleted"


def test_b64_json_result(emu: Emu) -> None:
    r = emu.submit({"prompt": "b64 monkey", "size": "512x512", "response_format": "b64_json"})
    [final] = emu.poll_until(r.headers["operation-location"], _done)[-1:]
    assert final["status"] == "succeeded"
    [item] = final["result"]["data"]
    assert b64_image(item) == render("b64 monkey", 512, 512, 0, "png", False)


def test_delete_before_the_end_is_a_409(emu: Emu) -> None:
    emu.configure(latency_seconds=60)
    r = emu.submit({"prompt": "slow monkey"})
    location = r.headers["operation-location"]

    refused = emu.http.delete(location)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "Conflict"
    still = emu.http.get(location).json()
    assert still["status"] == "notRunning"  # the first quarter of the 60 s latency
    assert "retry-after" in emu.http.get(location).headers


def test_filtered_image_ends_failed_and_is_billed(emu: Emu) -> None:
    emu.configure(image_filter_rate=1.0)
    r = emu.submit({"prompt": "a filtered monkey"})

    final = emu.poll_until(r.headers["operation-location"], _done)[-1]

    assert final == {
        "created": final["created"],
        "error": {
            "code": "contentFilter",
            "message": "Generated image was filtered as a result of our safety system.",
        },
        "id": r.json()["id"],
        "status": "failed",
    }
    stats = emu.stats()
    assert stats["billed"]["by_prompt"] == {"a filtered monkey": {"generations": 1, "images": 1}}
    assert stats["served"]["images_filtered"] == 1


def test_operation_past_the_timeout_is_canceled_and_not_billed(emu: Emu) -> None:
    emu.configure(latency_seconds=5.0, operation_timeout_seconds=0.3)
    r = emu.submit({"prompt": "a monkey that takes forever"})

    final = emu.poll_until(r.headers["operation-location"], _done)[-1]

    assert final["status"] == "canceled"
    assert final["error"]["message"] == "task has timed out"
    assert emu.http.delete(r.headers["operation-location"]).status_code == 204
    stats = emu.stats()
    assert stats["billed"]["generations"] == 0
    assert stats["served"]["operations_canceled"] == 1


def test_unknown_operation_is_404(emu: Emu) -> None:
    r = emu.http.get(
        "/openai/operations/images/00000000-0000-0000-0000-000000000000",
        params={"api-version": ASYNC_VERSION},
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NotFound"


def test_fixed_retry_after_is_configurable(emu: Emu) -> None:
    emu.configure(async_retry_after_seconds=3, latency_seconds=30)
    r = emu.submit({"prompt": "paced monkey"})
    assert r.headers["retry-after"] == "3"
    assert emu.http.get(r.headers["operation-location"]).headers["retry-after"] == "3"


def test_latency_jitter_spreads_operation_durations(emu: Emu) -> None:
    emu.configure(seed=11, latency_seconds=30.0, latency_jitter_seconds=60.0)

    waits = {int(emu.submit({"prompt": f"jitter {i}"}).headers["retry-after"]) for i in range(5)}

    assert all(30 <= w <= 91 for w in waits)
    assert len(waits) > 1  # each operation drew its own latency


def test_both_documented_header_spellings_and_n_limits(emu: Emu) -> None:
    default = emu.submit({"prompt": "header"})
    assert b"operation-location" in [k for k, _ in default.headers.raw]

    emu.configure(operation_location_header="Operation-Location", async_max_n=5)
    spec_style = emu.submit({"prompt": "header", "n": 5})

    assert b"Operation-Location" in [k for k, _ in spec_style.headers.raw]
    assert emu.submit({"prompt": "too many", "n": 6}).status_code == 400
