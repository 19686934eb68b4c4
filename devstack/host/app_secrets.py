"""App settings the devstack makes up, so `make start` needs no secret from anyone.

On Azure the deployment provides ``STATUS_LINK_SECRET`` (a generated secure parameter); locally
the host makes one up the first time it serves a data dir and keeps it there
(``{data_dir}/status-link-secret``, owner-only), so status links stay valid across restarts of
the same stack and are worthless against any other. A value already in the environment or in
``local.settings.json`` ``Values`` wins.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import MutableMapping
from pathlib import Path

from shared.links import SECRET_SETTING

SECRET_FILE = "status-link-secret"  # noqa: S105  # a file name


def ensure_link_secret(data_dir: Path, environ: MutableMapping[str, str] | None = None) -> str:
    """The status-link secret in ``environ`` (default: this process's), made up and stored
    under ``data_dir`` when the settings give none."""
    env = os.environ if environ is None else environ
    given = env.get(SECRET_SETTING)
    if given:
        return given
    path = data_dir / SECRET_FILE
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        value = ""
    if not value:
        value = secrets.token_urlsafe(32)
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(value)
    env[SECRET_SETTING] = value
    return value
