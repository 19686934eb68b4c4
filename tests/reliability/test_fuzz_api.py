"""Fuzz the HTTP API from its own OpenAPI document (schemathesis): invalid requests get a 4xx
that says what is wrong, nothing answers 5xx, and no rejected request starts an orchestration.

The examples are bounded and derandomized, so ``make test`` explores the same few hundred cases
every run (and a failure reproduces); ``FUZZ_EXAMPLES_SCALE=10`` multiplies the bounds for a
longer hunt.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SCALE = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
# Examples per (operation, mode): the POST that starts jobs gets the most attention.
BUDGET = {
    ("POST", GenerationMode.NEGATIVE): 60,
    ("POST", GenerationMode.POSITIVE): 40,
    ("GET", GenerationMode.NEGATIVE): 15,
    ("GET", GenerationMode.POSITIVE): 15,
    # CancelImageJob: fuzzed ids name no job (404); the jobs it could cancel are tested elsewhere
    ("DELETE", GenerationMode.NEGATIVE): 10,
    ("DELETE", GenerationMode.POSITIVE): 10,
}


def _error_body(response: Any, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{what}: {response.status_code} without a JSON body: {response.text!r}"
        ) from None
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), dict), body
    return body["error"]


def fuzz_api(start_host: Any, scale: float) -> None:
    host = start_host()
    doc = httpx.get(f"{host.api_url}/openapi.json", timeout=30).json()
    # The function key is checked by the Functions platform, not by the app (the local host, like
    # Core Tools, ignores authLevel): fuzzing its absence would only test the platform.
    doc.pop("security", None)
    doc.pop("securityDefinitions", None)
    schema = schemathesis.openapi.from_dict(doc)
    before = {i["instanceId"] for i in host.instances()}
    accepted: set[str] = set()
    seen: dict[tuple[str, int], int] = {}

    def check(case: Any, response: Any) -> None:
        key = (f"{case.method} {case.path}", response.status_code)
        seen[key] = seen.get(key, 0) + 1
        assert response.status_code < 500, f"{case.as_curl_command()}: {response.text}"
        if case.method == "POST" and response.status_code in (200, 202):
            accepted.add(response.json()["id"])
        if 400 <= response.status_code < 500:
            error = _error_body(response, case.as_curl_command())
            assert error.get("code"), error
            assert len(str(error.get("message", ""))) >= 10, error
        case.validate_response(response, checks=CHECKS)

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):
        takes = doc["paths"][operation.path][operation.method.lower()].get("parameters")
        if mode is GenerationMode.NEGATIVE and not takes:
            continue  # nothing to get wrong (GET /api/models): no negative case exists
        examples = max(1, int(BUDGET[(operation.method.upper(), mode)] * scale))

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            check(case, case.call(base_url=host.base_url, timeout=30))

        fuzz()

    after = {i["instanceId"] for i in host.instances()}
    assert after - before == accepted, "an orchestration was started by a rejected request"
    # The fuzzing reached both sides: some requests were refused, some accepted.
    assert any(400 <= status < 500 for (_, status) in seen), seen
    assert accepted, seen


def test_fuzzed_requests_never_5xx_and_rejections_start_nothing(start_host):
    fuzz_api(start_host, SCALE)


@pytest.mark.soak
def test_fuzz_longer(start_host):
    fuzz_api(start_host, SCALE * 20)
