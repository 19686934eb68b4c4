"""``python -m devstack.host`` as a process: its ready line, and a clean stop on SIGTERM."""

from __future__ import annotations

import os

import httpx
import pytest

from devstack.procs import ProcessFailedToStart

from .conftest import SAMPLE_APP, host_process


def test_host_announces_its_free_port_and_stops_cleanly_on_sigterm(azurite, tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", AzureWebJobsStorage=azurite.connection_string)
    proc = host_process(SAMPLE_APP, tmp_path, env)
    base_url = proc.start(timeout=60).group(1)
    try:
        assert httpx.get(f"{base_url}/api/hello", timeout=30).text == "hello world"
    finally:
        code = proc.stop()
    assert code == 0
    assert "host stopping" in proc.output_tail


def test_an_app_that_fails_to_import_stops_the_host_with_the_reason(azurite, tmp_path):
    app_dir = tmp_path / "broken"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(
        "raise RuntimeError('cannot reach http://h/x?sig=topsecret')\n"
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1", AzureWebJobsStorage=azurite.connection_string)
    proc = host_process(app_dir, tmp_path / "data", env)
    with pytest.raises(ProcessFailedToStart) as failed:
        proc.start(timeout=60)
    message = str(failed.value)
    assert "exited with 1" in message
    assert "cannot reach" in message
    assert "topsecret" not in message
