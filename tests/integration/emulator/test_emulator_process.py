"""`python -m devstack.emulator`: one ready line, options from CLI and env, clean signal exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devstack.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[3]
READY = re.compile(r"^emulator listening on (http://127\.0\.0\.1:(\d+))$")


def _emulator(args: list[str], env_extra: dict[str, str]) -> ManagedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_")}
    env.update(env_extra, PYTHONUNBUFFERED="1")
    return ManagedProcess(
        [sys.executable, "-m", "devstack.emulator", "--host", "127.0.0.1", "--port", "0", *args],
        READY,
        env=env,
        cwd=REPO_ROOT,
        name="emulator-under-test",
    )


def test_env_and_cli_options_and_sigterm_exit_zero() -> None:
    proc = _emulator(
        ["--rpm", "dall-e-3=1", "--seed", "5", "--url-ttl", "600"],
        {
            "EMULATOR_API_KEYS": "key-a, key-b",
            "EMULATOR_DEPLOYMENTS": "custom=gpt-image-1",
            "EMULATOR_CONTENT_FILTER_WORDS": "nope,never",
            "EMULATOR_URL_TTL_SECONDS": "5",  # the CLI wins
        },
    )
    match = proc.start(timeout=60)
    try:
        base = match.group(1)
        assert int(match.group(2)) > 0
        assert proc.output_tail.strip().splitlines() == [match.group(0)]  # exactly one line

        config = httpx.get(f"{base}/_emulator/config").json()
        assert config["deployments"]["custom"] == "gpt-image-1"
        assert config["deployments"]["dall-e-3"] == "dall-e-3"  # defaults kept
        assert config["rpm_per_deployment"] == {"dall-e-3": 1}
        assert config["content_filter_words"] == ["nope", "never"]
        assert config["url_ttl_seconds"] == 600
        assert config["seed"] == 5

        url = f"{base}/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21"
        body = {"prompt": "process test"}
        assert httpx.post(url, headers={"api-key": "key-a"}, json=body).status_code == 200
        assert httpx.post(url, headers={"api-key": "key-b"}, json=body).status_code == 429
        assert httpx.post(url, headers={"api-key": "emulator-key"}, json=body).status_code == 401
        custom = f"{base}/openai/deployments/custom/images/generations"
        r = httpx.post(
            custom,
            params={"api-version": "2025-04-01-preview"},
            headers={"api-key": "key-a"},
            json={"prompt": "custom deployment"},
        )
        assert r.status_code == 200
    finally:
        code = proc.stop()
    assert code == 0


def test_sigint_exits_zero_and_default_key_works() -> None:
    proc = _emulator([], {})
    base = proc.start(timeout=60).group(1)
    try:
        r = httpx.post(
            f"{base}/openai/deployments/dall-e-2/images/generations?api-version=2024-10-21",
            headers={"api-key": "emulator-key"},
            json={"prompt": "default key", "size": "256x256"},
        )
        assert r.status_code == 200
    finally:
        assert proc.proc is not None
        os.killpg(proc.proc.pid, signal.SIGINT)
        code = proc.proc.wait(30)
        proc.stop()
    assert code == 0


@pytest.mark.parametrize(
    ("args", "field"),
    [(["--error-rate-500", "2"], "error_rate_500"), (["--rpm", "dall-e-3"], "rpm_per_deployment")],
)
def test_bad_start_up_option_exits_with_a_message(args: list[str], field: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devstack.emulator", "--port", "0", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert field in done.stderr
