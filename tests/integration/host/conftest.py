"""The sample app served by a real ``python -m devstack.host`` process, on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.azurite import AzuriteEndpoints
from devstack.launch import LocalHost, app_env
from devstack.procs import ManagedProcess

SAMPLE_APP = Path(__file__).resolve().parent / "sample_app"


@dataclass
class SampleHost:
    base_url: str
    queue_name: str
    connection_string: str
    process: ManagedProcess


def host_process(app_dir: Path, data_dir: Path, env: dict[str, str]) -> ManagedProcess:
    """A host on a free port, not yet started: for tests of the process itself."""
    return LocalHost(app_dir, data_dir, env).new_process()


@pytest.fixture(scope="module")
def sample_host(
    azurite: AzuriteEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SampleHost]:
    queue = f"sample-work-{uuid.uuid4().hex[:8]}"
    env = app_env(
        azurite.connection_string, SAMPLE_QUEUE=queue, SAMPLE_OVERRIDDEN="from-environment"
    )
    proc = host_process(SAMPLE_APP, tmp_path_factory.mktemp("host-data"), env)
    match = proc.start(timeout=60)
    try:
        yield SampleHost(match.group(1), queue, azurite.connection_string, proc)
    finally:
        proc.stop()
