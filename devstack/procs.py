"""Child processes whose readiness is a line they print.

Every service of the devstack (Azurite, the Azure OpenAI emulator, the Functions host) announces
that it accepts requests by printing a line; waiting for that line, with a deadline, is the only
honest way to know it is up without sleeping and hoping.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_LIVE: set[ManagedProcess] = set()


def _stop_all_at_exit() -> None:
    """Children live in their own sessions, so nothing else ends them when we exit: a Ctrl-C or
    a failed fixture must not leave Azurite, the emulator or a host holding ports."""
    for process in list(_LIVE):
        process.stop(timeout=3)


atexit.register(_stop_all_at_exit)


class ProcessFailedToStart(RuntimeError):
    """The process exited, or never printed its ready line, before the deadline."""


class ManagedProcess:
    """Start a process, wait for a ready line, keep draining its output, stop it cleanly."""

    def __init__(
        self,
        args: Sequence[str],
        ready: str | re.Pattern[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        name: str | None = None,
        echo: bool = False,
    ) -> None:
        self.args = list(args)
        self.ready = re.compile(ready) if isinstance(ready, str) else ready
        self.env = dict(os.environ if env is None else env)
        self.cwd = str(cwd) if cwd is not None else None
        self.name = name or Path(self.args[0]).name
        self.echo = echo
        self.proc: subprocess.Popen[str] | None = None
        self.match: re.Match[str] | None = None
        self._ready = threading.Event()
        self._tail: collections.deque[str] = collections.deque(maxlen=200)
        self._reader: threading.Thread | None = None

    @property
    def output_tail(self) -> str:
        """The last lines the process printed, for error messages."""
        return "".join(self._tail)

    def start(self, timeout: float = 60.0) -> re.Match[str]:
        self._ready.clear()
        self.match = None
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._drain, name=f"{self.name}-out", daemon=True)
        self._reader.start()
        try:
            return self._wait_ready(timeout)
        except BaseException:  # not ready, or interrupted while waiting: leave nothing behind
            self.kill()
            raise

    def _wait_ready(self, timeout: float) -> re.Match[str]:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                assert self.match is not None
                return self.match
            if self.proc.poll() is not None and not self._ready.is_set():
                if self._reader is not None:
                    self._reader.join(1)
                if self.match is not None:
                    return self.match
                raise ProcessFailedToStart(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    f"{self.output_tail}"
                )
        raise ProcessFailedToStart(f"{self.name} not ready after {timeout}s:\n{self.output_tail}")

    def _drain(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._tail.append(line)
            if self.echo:
                print(f"[{self.name}] {line}", end="", flush=True)
            if not self._ready.is_set():
                m = self.ready.search(line)
                if m:
                    self.match = m
                    self._ready.set()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._reader is not None:
            self._reader.join(2)
        _LIVE.discard(self)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group: what a crash looks like."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        _LIVE.discard(self)
