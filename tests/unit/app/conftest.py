"""Fixtures for replaying the image orchestrator (the engine itself: tests/unit/app/engine.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.models import JobInput
from tests.unit.app.engine import Engine, Responder, Run
from tests.unit.app.engine import make_job as _make_job


@pytest.fixture
def make_job() -> Callable[..., JobInput]:
    """`make_job(family, flavour, n=, deadline_seconds=, max_attempts=)` → JobInput."""
    return _make_job


@pytest.fixture
def replay() -> Callable[..., Run]:
    """`replay(job, responder, activity_s=0.5)` → Run."""

    def _replay(job: JobInput, responder: Responder, **kwargs: Any) -> Run:
        return Engine(job, responder, **kwargs).run()

    return _replay
