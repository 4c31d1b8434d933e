"""A container as a process: exit codes as a runtime reports them, graceful stop, no leftover children."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from process_kubelet.pods import Launch
from process_kubelet.processes import ContainerProcess, exit_code_of


def start(tmp_path: Path, code: str) -> ContainerProcess:
    launch = Launch(argv=[sys.executable, "-c", code], env={"GREETING": "hi"}, cwd=tmp_path, mounts={})
    return ContainerProcess.start(launch, log_path=tmp_path / "main.log", base_env=os.environ)


def wait(process: ContainerProcess, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.enforce()
        code = process.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    raise AssertionError(f"process {process.pid} still runs after {timeout}s")


def test_exit_codes_of_signals_are_128_plus_the_signal():
    assert [exit_code_of(c) for c in (0, 3, -9, -15)] == [0, 3, 137, 143]


def test_output_goes_to_the_log_and_the_exit_code_is_reported(tmp_path):
    process = start(tmp_path, "import os, sys; print(os.environ['GREETING'], os.getcwd()); sys.exit(4)")
    assert wait(process) == 4
    assert process.log_path.read_text().split() == ["hi", str(tmp_path)]
    assert process.finished_at is not None


def test_stop_kills_a_process_that_ignores_sigterm_after_the_grace_period(tmp_path):
    ready = tmp_path / "ready"
    process = start(tmp_path, f"import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                              f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    while not ready.exists():
        time.sleep(0.05)
    began = time.monotonic()
    process.stop(grace=0.5)
    assert wait(process) == 128 + signal.SIGKILL
    assert 0.4 < time.monotonic() - began < 10


def test_a_process_that_handles_sigterm_exits_with_its_own_code(tmp_path):
    ready = tmp_path / "ready"
    process = start(tmp_path, f"import signal, sys, time, pathlib; "
                              f"signal.signal(signal.SIGTERM, lambda *a: sys.exit(3)); "
                              f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    while not ready.exists():
        time.sleep(0.05)
    process.stop(grace=30)
    assert wait(process) == 3


def test_children_die_with_the_main_process(tmp_path):
    pid_file = tmp_path / "child.pid"
    process = start(tmp_path, "import subprocess, sys, pathlib; "
                              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                              f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))")
    assert wait(process) == 0
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by init) counts as dead
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def test_sigterm_is_sent_once_however_often_stop_is_asked(tmp_path):
    ready, count = tmp_path / "ready", tmp_path / "count"
    process = start(tmp_path, f"import signal, time, pathlib; c = pathlib.Path({str(count)!r}); "
                              "signal.signal(signal.SIGTERM, lambda *a: c.write_text(str(int(c.read_text() or 0) + 1)) "
                              f"if c.exists() else c.write_text('1')); pathlib.Path({str(ready)!r}).touch(); "
                              "time.sleep(60)")
    while not ready.exists():
        time.sleep(0.05)
    for _ in range(3):  # the kubelet asks on every pass while the pod is gone
        process.stop(grace=1)
        time.sleep(0.1)
    assert wait(process) == 128 + signal.SIGKILL
    assert count.read_text() == "1"
