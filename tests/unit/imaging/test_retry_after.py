"""A server's "come back later" hint, read one way for every peer (`shared.http_hints`): the image
API's throttling and busy replies and a callback receiver's 429/503 both set how long a job waits
on its durable timer, so both must read ``retry-after-ms``, delay-seconds and HTTP-dates alike.

The callback cases go through `post_callback` with an httpx.MockTransport: a pure test of how
the reply's headers are read (CONTRIBUTING: a fake transport only for error parsing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from shared.http_hints import retry_after_s
from shared.imaging.errors import classify_response, retry_after_seconds
from shared.notify.callback import post_callback

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
IN_42_S = format_datetime(NOW + timedelta(seconds=42), usegmt=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"RETRY-AFTER": "2.5"}, 2.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # the finer hint wins
        ({"Retry-After-Ms": "200"}, 0.2),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # unreadable: the next one
        ({"retry-after-ms": "", "retry-after": "9"}, 9.0),
        ({"retry-after": IN_42_S}, 42.0),
        ({"retry-after": "Thursday, 01-Jan-26 12:00:42 GMT"}, 42.0),  # RFC 850
        ({"retry-after": "Thu Jan  1 12:00:42 2026"}, 42.0),  # asctime: no zone, means GMT
        ({"retry-after": format_datetime(NOW - timedelta(seconds=42), usegmt=True)}, 0.0),
        ({"retry-after": "-5"}, 0.0),  # "now", not a wait into the past
        ({"retry-after-ms": "-5"}, 0.0),
    ],
)
def test_the_hint_in_every_form_a_server_sends_it(headers, seconds):
    assert retry_after_s(headers, now=NOW) == seconds


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"retry-after": ""},
        {"retry-after": "soon"},
        {"retry-after": "inf"},
        {"retry-after": "nan"},
        {"retry-after-ms": "inf"},
        {"x-ratelimit-reset": "7"},
    ],
)
def test_no_usable_hint_is_none_so_the_caller_backs_off_on_its_own(headers):
    assert retry_after_s(headers, now=NOW) is None


def test_a_date_is_measured_against_the_clock_when_none_is_given():
    assert retry_after_s({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}) == 0.0


def test_httpx_headers_are_read_like_a_plain_dict():
    assert retry_after_s(httpx.Headers({"Retry-After-Ms": "250"})) == 0.25


def test_the_image_api_prefers_a_header_over_the_message_but_falls_back_to_it():
    message = "Please retry after 30 seconds."
    assert retry_after_seconds({"retry-after": "9"}, message) == 9.0
    assert retry_after_seconds({"retry-after": "soon"}, message) == 30.0
    assert retry_after_seconds({}, "no hint here") is None
    err = classify_response(429, {"retry-after": IN_42_S}, b"")
    assert err.retry_after_s is not None


async def _callback_outcome(headers: dict[str, str]) -> dict:
    def receiver(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers=headers)

    return await post_callback(
        "https://8.8.8.8/hooks/done",  # an IP literal: no DNS lookup
        {"id": "job-1"},
        job_id="job-1",
        attempt=1,
        transport=httpx.MockTransport(receiver),
    )


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After-Ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
async def test_a_busy_callback_receiver_is_paced_like_the_image_api(headers, seconds):
    outcome = await _callback_outcome(headers)
    assert (outcome["delivered"], outcome["retryable"]) == (False, True)
    assert outcome["retry_after_s"] == seconds
