"""`/_emulator/config`, `/reset`, `/stats`: run-time knobs that never crash and exact counts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.emulator.support import Emu


def test_config_patch_merges_and_keeps_the_rest(emu: Emu) -> None:
    before = emu.http.get("/_emulator/config").json()

    after = emu.configure(error_rate_503=0.25, rpm_per_deployment={"dall-e-3": 6})
    again = emu.configure(rpm_per_deployment={"gpt-image-1": 9})

    assert after["error_rate_503"] == 0.25
    assert again["rpm_per_deployment"] == {"dall-e-3": 6, "gpt-image-1": 9}
    assert {
        k: v for k, v in again.items() if k not in {"error_rate_503", "rpm_per_deployment"}
    } == {k: v for k, v in before.items() if k not in {"error_rate_503", "rpm_per_deployment"}}
    assert emu.http.get("/_emulator/config").json() == again


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"latency_second": 1}, "latency_second"),
        ({"latency_seconds": "fast"}, "latency_seconds"),
        ({"latency_seconds": -1}, "latency_seconds"),
        ({"error_rate_500": 1.5}, "error_rate_500"),
        ({"drop_rate": None}, "drop_rate"),
        ({"rpm_default": 2.5}, "rpm_default"),
        ({"rpm_per_deployment": {"dall-e-3": "six"}}, "rpm_per_deployment"),
        ({"deployments": {"mine": "dall-e-4"}}, "deployments"),
        ({"content_filter_shape": "other"}, "content_filter_shape"),
        ({"content_filter_words": "word"}, "content_filter_words"),
        ({"api_keys": []}, "api_keys"),
        ({"url_ttl_seconds": 0}, "url_ttl_seconds"),
        ({"seed": "abc"}, "seed"),
    ],
)
def test_bad_config_is_a_400_naming_the_field(emu: Emu, patch: dict[str, Any], field: str) -> None:
    before = emu.http.get("/_emulator/config").json()

    r = emu.http.put("/_emulator/config", json=patch)

    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith(field)
    assert emu.http.get("/_emulator/config").json() == before  # nothing half-applied


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b'"text"'])
def test_config_body_must_be_a_json_object(emu: Emu, raw: bytes) -> None:
    r = emu.http.put("/_emulator/config", content=raw)
    assert r.status_code == 400
    assert emu.http.get("/_emulator/health").status_code == 200


def test_deployment_map_can_add_and_remove_names(emu: Emu) -> None:
    emu.configure(deployments={"my-dalle": "dall-e-3", "dall-e-2": None})

    r = emu.generate("my-dalle", {"prompt": "renamed"})
    assert r.status_code == 200
    assert "revised_prompt" in r.json()["data"][0]  # it is a DALL-E 3 deployment
    assert emu.generate("dall-e-2", {"prompt": "gone"}).status_code == 404
    assert emu.stats()["billed"]["by_deployment"] == {"my-dalle": {"generations": 1, "images": 1}}


def test_reset_restores_start_up_config_and_clears_stats(emu: Emu) -> None:
    start = emu.http.get("/_emulator/config").json()
    emu.configure(error_rate_500=1.0, latency_seconds=3.0)
    assert emu.generate("dall-e-3", {"prompt": "x"}).status_code == 500

    assert emu.http.post("/_emulator/reset").status_code == 200

    assert emu.http.get("/_emulator/config").json() == start
    assert emu.stats()["served"]["by_status"] == {}
    assert emu.generate("dall-e-3", {"prompt": "x"}).status_code == 200


def test_stats_count_exactly_what_was_billed(emu: Emu) -> None:
    emu.configure(rpm_per_deployment={"gpt-image-1": 1})
    v = "2025-04-01-preview"
    assert emu.generate("dall-e-3", {"prompt": "cat"}).status_code == 200
    assert emu.generate("dall-e-3", {"prompt": "cat"}).status_code == 200
    assert emu.generate("gpt-image-1", {"prompt": "dog", "n": 3}, v).status_code == 200
    assert emu.generate("gpt-image-1", {"prompt": "dog"}, v).status_code == 429
    assert emu.generate("dall-e-3", {"prompt": "cat", "n": 2}).status_code == 400
    assert emu.submit({"prompt": "cat", "n": 2}).status_code == 202
    emu.configure(drop_rate=1.0)
    with pytest.raises(httpx.HTTPError):
        emu.generate("dall-e-3", {"prompt": "cat"})
    emu.configure(drop_rate=0.0)

    stats = emu.stats()

    assert stats["billed"] == {
        "generations": 4,
        "images": 7,
        "edits": 0,
        "by_deployment": {
            "dall-e-2": {"generations": 1, "images": 2},
            "dall-e-3": {"generations": 2, "images": 2},
            "gpt-image-1": {"generations": 1, "images": 3},
        },
        "by_prompt": {
            "cat": {"generations": 3, "images": 4},
            "dog": {"generations": 1, "images": 3},
        },
    }
    served = stats["served"]
    assert served["rate_limited_429"] == 1
    assert served["dropped_connections"] == 1
    assert served["by_status"] == {"200": 3, "202": 1, "400": 1, "429": 1}
