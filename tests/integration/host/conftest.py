"""The sample app served by a real ``python -m devstack.host`` process, on a free port."""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.azurite import AzuriteEndpoints
from devstack.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_APP = Path(__file__).resolve().parent / "sample_app"
READY = re.compile(r"^host listening on (http://127\.0\.0\.1:\d+)$")


@dataclass
class SampleHost:
    base_url: str
    queue_name: str
    connection_string: str
    process: ManagedProcess


def host_process(app_dir: Path, data_dir: Path, env: dict[str, str]) -> ManagedProcess:
    return ManagedProcess(
        [
            sys.executable,
            "-m",
            "devstack.host",
            "--app-dir",
            str(app_dir),
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        READY,
        env=env,
        cwd=REPO_ROOT,
        name="host",
    )


@pytest.fixture(scope="module")
def sample_host(
    azurite: AzuriteEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SampleHost]:
    queue = f"sample-work-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update(
        PYTHONUNBUFFERED="1",
        AzureWebJobsStorage=azurite.connection_string,
        SAMPLE_QUEUE=queue,
        SAMPLE_OVERRIDDEN="from-environment",
    )
    proc = host_process(SAMPLE_APP, tmp_path_factory.mktemp("host-data"), env)
    match = proc.start(timeout=60)
    try:
        yield SampleHost(match.group(1), queue, azurite.connection_string, proc)
    finally:
        proc.stop()
