"""``python -m devstack start`` (what ``make start`` runs), here on free ports."""

from __future__ import annotations

import re
import sys

import httpx
import pytest

from devstack.procs import ManagedProcess
from devstack.stack import REPO_ROOT


def test_start_serves_the_api_prints_how_to_use_it_and_stops_everything(tmp_path):
    data_dir = tmp_path / "data"
    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "devstack",
            "start",
            "--port",
            "0",
            "--emulator-port",
            "0",
            "--azurite-blob-port",
            "0",
            "--data-dir",
            str(data_dir),
            "--quiet",
        ],
        re.compile(r"Ctrl-C stops everything"),
        cwd=REPO_ROOT,
        name="devstack-start",
    )
    proc.start(timeout=120)
    try:
        banner = proc.output_tail
        api = re.search(r"API\s+(http://127\.0\.0\.1:\d+/api)", banner)
        assert api is not None, banner
        assert f"curl -i -X POST {api.group(1)}/images" in banner
        r = httpx.get(f"{api.group(1)}/images/0123456789abcdef", timeout=30)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        playground = re.search(r"playground\s+(http://\S+/api/ui)\b", banner)
        assert playground is not None, banner
        assert playground.group(1) == f"{api.group(1)}/ui"
        page = httpx.get(playground.group(1), timeout=30)
        assert page.status_code == 200
        assert "<title>Image playground</title>" in page.text
    finally:
        code = proc.stop(timeout=60)
    assert code == 0, proc.output_tail
    # Storage is persisted under the data dir; the host keeps its Durable store there too.
    assert (data_dir / "azurite").is_dir()
    assert any((data_dir / "host").iterdir())
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api.group(1)}/images/0123456789abcdef", timeout=5)
