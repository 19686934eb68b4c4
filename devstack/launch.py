"""How the devstack's Python services are launched: one place for the command lines, the ready
lines and the app settings, shared by the Stack, the test fixtures and the benchmarks.

Each caller has its own needs — a proxy in front of the emulator (bench), every log line kept on
disk (reliability tests), the same port across host restarts (crash tests, ``make start``) — and
states them as arguments here, so that a change to how the host or the emulator starts (a flag, a
setting the app needs) is made once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlsplit

from devstack.procs import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST_READY = re.compile(r"^host listening on (http://\S+)$")
EMULATOR_READY = re.compile(r"^emulator listening on (http://\S+)$")
# Image sources the app may fetch over plain HTTP: the emulator's downloads are on loopback.
LOOPBACK_HTTP_HOSTS = "127.0.0.1,localhost"


def _unbuffered(env: Mapping[str, str] | None) -> dict[str, str]:
    """The child's environment, with output unbuffered so its lines (the ready one) come now."""
    return dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _blob_origin(storage: str) -> str:
    """The blob endpoint's origin in a storage connection string (Azurite's default port for
    `UseDevelopmentStorage=true`)."""
    for part in storage.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "blobendpoint" and value:
            return _origin(value.strip())
    return "http://127.0.0.1:10000"


def app_env(
    storage: str,
    emulator_url: str | None = None,
    api_key: str | None = None,
    *,
    base: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    **settings: str,
) -> dict[str, str]:
    """The app settings a local host needs: what Azure's app settings would be, pointing here.

    ``base`` (default: this process's environment) is what the host inherits; storage becomes
    ``AzureWebJobsStorage``; the emulator, when given, becomes the Azure OpenAI endpoint and key;
    image downloads over plain HTTP are allowed from loopback. ``unset`` removes inherited names
    the caller wants the app's own defaults for; ``settings`` come last and win.
    """
    env = dict(os.environ if base is None else base)
    env["AzureWebJobsStorage"] = storage
    if emulator_url is not None:
        env["AZURE_OPENAI_ENDPOINT"] = emulator_url
    if api_key is not None:
        env["AZURE_OPENAI_API_KEY"] = api_key
    env["IMAGE_SOURCE_ALLOW_HTTP_HOSTS"] = LOOPBACK_HTTP_HOSTS
    # An edit's {"url"} inputs over plain http: Azurite's blobs and the emulator's images only,
    # by exact origin (a caller's URL must not reach every loopback port).
    origins = [_blob_origin(storage), *([_origin(emulator_url)] if emulator_url else [])]
    env["EDIT_SOURCE_ALLOW_HTTP_ORIGINS"] = ",".join(origins)
    # Required by the queue trigger's binding (%IMAGE_REQUESTS_QUEUE%), as on Azure.
    env.setdefault("IMAGE_REQUESTS_QUEUE", "image-requests")
    for name in unset:
        env.pop(name, None)
    env.update(settings)
    return env


# FLUX on Foundry's OpenAI-style Image API (URL replies) and on Foundry's BFL provider route
# (base64), each under the family's exact name; BFL's own asynchronous API under `bfl-<family>`.
FLUX_IMAGE_API = ("FLUX-1.1-pro", "FLUX.1-Kontext-pro")
FLUX_BFL_FOUNDRY = ("FLUX.2-pro", "FLUX.2-flex")


def devstack_models(emulator_url: str) -> dict[str, dict[str, str]]:
    """IMAGE_MODELS for a devstack whose image services are all the emulator: the app's own
    defaults, then every FLUX family on each route the emulator serves, so `make start` (and an
    end-to-end test) can exercise each one by name. The `bfl-*` models name the emulator as
    their endpoint (BFL_ENDPOINT stays the real one) and need BFL_API_KEY = the emulator's key."""
    from shared.imaging.types import BFL_MODEL_PATHS  # every family BFL's own API serves
    from shared.settings import DEFAULT_MODELS, FLUX_IMAGE_API_VERSION  # written once there

    models = {
        name: {
            "deployment": name,
            "family": family.value,
            "flavour": flavour.value,
            "api_version": version,
        }
        for name, (family, flavour, version) in DEFAULT_MODELS.items()
    }
    for name in FLUX_IMAGE_API:  # the settings fill in the Image API's api-version
        models[name] = {"deployment": name, "family": name, "flavour": "azure-deployment"}
    for name in FLUX_BFL_FOUNDRY:
        models[name] = {
            "deployment": name,
            "family": name,
            "flavour": "bfl-foundry",
            "api_version": FLUX_IMAGE_API_VERSION,
        }
    for name in (family.value for family in BFL_MODEL_PATHS):
        models[f"bfl-{name}"] = {
            "deployment": name,
            "family": name,
            "flavour": "bfl",
            "endpoint": emulator_url,
        }
    return models


def devstack_model_settings(emulator_url: str, api_key: str) -> dict[str, str]:
    """The app settings that offer `devstack_models`: IMAGE_MODELS and the BFL key."""
    return {"IMAGE_MODELS": json.dumps(devstack_models(emulator_url)), "BFL_API_KEY": api_key}


def emulator_process(
    api_key: str,
    *,
    port: int = 0,
    env: Mapping[str, str] | None = None,
    echo: bool = False,
    name: str = "emulator",
) -> ManagedProcess:
    """``python -m devstack.emulator`` on loopback (``port`` 0: a free one), not yet started.

    ``start()`` returns the match of its ready line; ``group(1)`` is its base URL.
    """
    return ManagedProcess(
        [
            sys.executable,
            "-m",
            "devstack.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            api_key,
        ],
        EMULATOR_READY,
        env=_unbuffered(env),
        cwd=REPO_ROOT,
        name=name,
        echo=echo,
    )


@dataclass(eq=False)
class LocalHost:
    """``python -m devstack.host`` serving ``app_dir``, its Durable store in ``data_dir``; it can
    be stopped, crashed and started again on the same port and data.

    The first start takes ``port`` (0: a free one); later starts reuse the port it got, so clients
    keep pointing at the right address across a restart, as they would in Azure. ``env`` (default:
    this process's environment) may be changed between starts. With ``log_path`` every line the
    host prints is also appended to that file (through ``tee``, in the host's process group, so
    it dies with the host): ``ManagedProcess`` keeps only the last lines, and a test that must see
    every line (no secret in any of them) reads the file.
    """

    app_dir: Path
    data_dir: Path
    env: Mapping[str, str] | None = None
    port: int = 0
    log_level: str | None = None
    log_path: Path | None = None
    echo: bool = False
    name: str = "host"
    process: ManagedProcess | None = field(default=None, init=False)
    base_url: str = field(default="", init=False)
    starts: int = field(default=0, init=False)

    @property
    def api_url(self) -> str:
        """Where the app's HTTP API lives (``http://127.0.0.1:PORT/api``)."""
        return f"{self.base_url}/api"

    def new_process(self) -> ManagedProcess:
        """The host process as configured now, not yet started; ``start()`` returns the match of
        its ready line, whose ``group(1)`` is the base URL."""
        args = [
            sys.executable,
            "-m",
            "devstack.host",
            "--app-dir",
            str(self.app_dir),
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        if self.log_level is not None:
            args += ["--log-level", self.log_level]
        if self.log_path is not None:
            shell = f"{shlex.join(args)} 2>&1 | tee -a {shlex.quote(str(self.log_path))}"
            args = ["bash", "-o", "pipefail", "-c", shell]
        env = _unbuffered(self.env)
        return ManagedProcess(
            args, HOST_READY, env=env, cwd=REPO_ROOT, name=self.name, echo=self.echo
        )

    def start(self, timeout: float = 90.0) -> str:
        """Start the host; return its base URL once it serves."""
        self.process = self.new_process()
        self.base_url = self.process.start(timeout).group(1)
        self.port = int(urlparse(self.base_url).port or 0)
        self.starts += 1
        return self.base_url

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, mid-whatever."""
        if self.process is not None:
            self.process.kill()

    def stop(self) -> int | None:
        """SIGTERM (SIGKILL if it hangs); the exit code, or None if it never started."""
        return self.process.stop() if self.process is not None else None

    def restart(self, *, crash: bool = False, timeout: float = 90.0) -> str:
        """Stop (or, with ``crash``, SIGKILL) the host and start it on the same port and data."""
        (self.kill if crash else self.stop)()
        return self.start(timeout)
