"""A container as a local process: started in its own session, its output in a log file, stopped like a runtime.

    process = ContainerProcess.start(launch, log_path=pod_dir / "pytorch.log", base_env=os.environ)
    process.poll()              # None while running, else the exit code (128 + n when killed by signal n)
    process.stop(grace=30)      # SIGTERM now, SIGKILL to the whole group once `grace` has passed (see enforce)

Like a container, when the main process ends whatever it started is killed too (its process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from process_kubelet.objects import now
from process_kubelet.pods import Launch


def exit_code_of(returncode: int) -> int:
    """Popen's -N (killed by signal N) as a container runtime reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class ContainerProcess:
    def __init__(self, popen: subprocess.Popen[bytes], log: IO[bytes], log_path: Path) -> None:
        self.popen = popen
        self.log_path = log_path
        self.started_at = now()
        self.finished_at: str | None = None
        self._log = log
        self._kill_at: float | None = None
        self._exit_code: int | None = None

    @classmethod
    def start(cls, launch: Launch, *, log_path: Path, base_env: Mapping[str, str]) -> ContainerProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # closed by poll() once the process has ended
        try:
            popen = subprocess.Popen(launch.argv, env={**base_env, **launch.env}, cwd=launch.cwd,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        except OSError:
            log.close()
            raise
        return cls(popen, log, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        """The exit code once the main process has ended (its leftover children are then killed)."""
        if self._exit_code is None:
            returncode = self.popen.poll()
            if returncode is None:
                return None
            self._exit_code = exit_code_of(returncode)
            self.finished_at = now()
            self._kill_group()
            self._log.close()
        return self._exit_code

    def signal(self, number: int) -> None:
        """Send `number` to the main process (as `docker kill --signal` does), if it still runs."""
        if self.poll() is None:
            try:
                self.popen.send_signal(number)
            except ProcessLookupError:
                pass

    def stop(self, grace: float) -> None:
        """SIGTERM (once, however often asked); `enforce` sends SIGKILL once `grace` seconds have passed
        (a later, shorter grace wins)."""
        deadline = time.monotonic() + max(grace, 0.0)
        if self._kill_at is None:
            self.signal(signal.SIGTERM)
        if self._kill_at is None or deadline < self._kill_at:
            self._kill_at = deadline
        self.enforce()

    def enforce(self) -> None:
        if self._kill_at is not None and time.monotonic() >= self._kill_at and self.poll() is None:
            self._kill_group()

    def kill(self) -> int:
        """SIGKILL the whole group at once and wait for the exit code."""
        self._kill_group()
        self.popen.wait()
        code = self.poll()
        assert code is not None
        return code

    def _kill_group(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
