"""Blob naming and metadata encoding (image formats: test_formats.py; the download policy:
test_download_policy.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.storage import blob_name, decode_metadata
from shared.storage.metadata import MAX_TOTAL, encode_metadata, truncated_keys

# ------------------------------------------------------------------ naming


def test_blob_name_layout():
    created = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
    assert blob_name("job-1", created, 0, "png") == "2026/03/07/job-1/0.png"
    assert blob_name("job-1", created, 12, ".JPG") == "2026/03/07/job-1/12.jpg"


@pytest.fixture
def host_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone at UTC-12 (a developer's machine, not an Azure host): a date
    taken from the local clock would be a day off."""
    monkeypatch.setenv("TZ", "XYZ+12")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_blob_name_uses_the_utc_date(host_far_from_utc):
    created = datetime(2026, 3, 8, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    assert blob_name("j", created, 0, "png") == "2026/03/07/j/0.png"
    just_after_midnight = datetime(2026, 3, 8, 0, 30, tzinfo=UTC)  # still the 7th at UTC-12
    assert blob_name("j", just_after_midnight, 0, "png") == "2026/03/08/j/0.png"


def test_a_naive_timestamp_is_taken_as_utc_not_local_time(host_far_from_utc):
    assert blob_name("j", datetime(2026, 3, 7, 23, 0), 0, "png") == "2026/03/07/j/0.png"


@pytest.mark.parametrize(
    "job_id", ["", "../x", "a/b", "a b", "a?b", "-x", "a..b", "a.b", "x" * 101, "job\n"]
)
def test_blob_name_refuses_ids_that_would_escape_the_layout(job_id):
    with pytest.raises(ValueError, match="job id"):
        blob_name(job_id, datetime.now(UTC), 0, "png")


@pytest.mark.parametrize("ext", ["", ".", "p/ng", "png?", "toolongext"])
def test_blob_name_refuses_an_extension_that_is_not_one(ext):
    with pytest.raises(ValueError, match=r"^bad extension: "):
        blob_name("j", datetime.now(UTC), 0, ext)


def test_blob_name_refuses_a_negative_index():
    with pytest.raises(ValueError, match=r"^index must be >= 0$"):
        blob_name("j", datetime.now(UTC), -1, "png")


# ------------------------------------------------------------------ metadata


def test_metadata_round_trips_unicode_and_stays_ascii():
    values = {
        "model": "dall-e-3",
        "size": "1024x1024",
        "job_id": "abc",
        "prompt": 'Ein Dachs im Smoking 🦡 — "quoted"\nnew line, 100% café',
        "revised_prompt": "  leading and trailing spaces  ",
    }
    encoded = encode_metadata(values)
    assert all(v.isascii() and "\n" not in v for v in encoded.values())
    assert decode_metadata(encoded) == values
    assert truncated_keys(encoded) == []


def test_missing_values_are_left_out():
    decoded = decode_metadata(encode_metadata({"model": "m", "revised_prompt": None}))
    assert decoded == {"model": "m"}


def test_huge_prompts_are_truncated_under_the_limit_on_a_character_boundary():
    prompt = "é🦡" * 10_000
    encoded = encode_metadata({"model": "gpt-image-1", "prompt": prompt, "revised_prompt": prompt})
    assert sum(len(k) + len(v) for k, v in encoded.items()) <= MAX_TOTAL
    decoded = decode_metadata(encoded)
    assert prompt.startswith(decoded["prompt"])
    assert prompt.startswith(decoded["revised_prompt"])
    assert decoded["model"] == "gpt-image-1"
    assert set(truncated_keys(encoded)) >= {"revised_prompt"}


def test_metadata_keys_must_be_identifiers():
    with pytest.raises(ValueError, match="identifier"):
        encode_metadata({"job-id": "x"})
