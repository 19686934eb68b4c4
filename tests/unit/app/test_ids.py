"""One rule for job ids: what callers may choose, and what URLs, Durable and blob names take."""

from __future__ import annotations

import pytest

from shared.ids import is_job_id


@pytest.mark.parametrize("job_id", ["a", "job-1", "Q_2", "9" * 100, "a" + "-_" * 49 + "z"])
def test_ids_of_letters_digits_dash_and_underscore_are_accepted(job_id):
    assert is_job_id(job_id)


@pytest.mark.parametrize(
    "job_id",
    [
        "",
        "-starts-with-dash",
        "_starts-with-underscore",
        "a" * 101,  # one too long
        "job\n",  # a trailing newline would pass a `$`-anchored match
        "job 1",
        "job/1",
        "job.1",
        "job²",  # a non-ASCII digit
        "jöb",
        None,
        42,
    ],
)
def test_anything_else_is_refused(job_id):
    assert not is_job_id(job_id)
