"""The process kubelet: a node whose pods are local processes, with the Job and PyTorchJob controllers beside it.

    with ProcessKubelet(kubeconfig=api.kubeconfig, namespace="default", root=tmp_path) as kubelet:
        ...                                   # create Jobs / PyTorchJobs; their pods run as processes
        kubelet.preempt("train-0-x7k2q")      # SIGTERM + DisruptionTarget, as the scheduler preempts
        kubelet.kill("train-1-b4d9z", signal.SIGKILL)

Every ~0.2 s, in a background thread: the controllers' pass (`controllers.Controllers`), then the
kubelet's: each pod of the namespace that is bound to no node or to this one starts as a process
(`pods.plan_launch`), its status is written as the kubelet writes it (Pending, Running,
Succeeded/Failed with the exit code), and a deleted pod's process gets SIGTERM, then SIGKILL after
its terminationGracePeriodSeconds (`grace_seconds` overrides it). Leaving the block kills every
process; errors met in the loop are raised then (KubeletError).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from process_kubelet.api import KubeApi, resource_path
from process_kubelet.controllers import Controllers
from process_kubelet.network import POD_IP, Network, PortMap
from process_kubelet.objects import Manifest, is_deleting, is_terminal, meta, name_of, now, uid_of
from process_kubelet.pods import (
    ContainerConfigError,
    ContainerCreateError,
    configmap_data,
    container_status,
    phase_after,
    plan_launch,
    pod_conditions,
    pod_dir_name,
    secret_data,
    should_restart,
    terminated,
)
from process_kubelet.processes import ContainerProcess

log = logging.getLogger("process_kubelet")
LOG_ANNOTATION = "process-kubelet.genesys.dev/log"
DEFAULT_GRACE = 30
MAX_ERRORS = 20


class KubeletError(RuntimeError):
    """The kubelet's loop failed; the first error is the cause."""


@dataclass
class PodRecord:
    """What this node knows of one pod (by uid)."""

    pod: Manifest
    pod_dir: Path
    process: ContainerProcess | None = None
    start_time: str = field(default_factory=now)
    restarts: int = 0
    last_state: Manifest = field(default_factory=dict)
    extra_conditions: list[Manifest] = field(default_factory=list)  # DisruptionTarget and the like
    written: Manifest | None = None  # the status this kubelet last wrote
    finished: bool = False  # its container ended for good: never started again
    gone: bool = False  # deleted from the API server

    @property
    def name(self) -> str:
        return name_of(self.pod)

    @property
    def container(self) -> Manifest:
        return self.pod["spec"]["containers"][0]


class ProcessKubelet:
    def __init__(self, kubeconfig: str | Path, namespace: str = "default", root: str | Path = "process-kubelet", *,
                 volume_dirs: Mapping[str, str | Path] | None = None,
                 claim_dirs: Mapping[str, str | Path] | None = None, node_name: str = "process-kubelet",
                 interval: float = 0.2, grace_seconds: float | None = None, controllers: bool = True,
                 env: Mapping[str, str] | None = None, inherit_env: bool = True) -> None:
        """`volume_dirs`: volume name -> a folder shared by every pod mounting a volume of that name;
        `claim_dirs`: PVC name -> folder (default `<root>/pvc/<claim>`); `grace_seconds` replaces each
        pod's terminationGracePeriodSeconds; `controllers=False` runs the kubelet alone; the processes'
        environment is this one (`inherit_env`) plus `env`, then the container's."""
        self.api = KubeApi(kubeconfig)
        self.namespace = namespace
        self.root = Path(root).resolve()
        self.volume_dirs = {key: Path(value) for key, value in (volume_dirs or {}).items()}
        self.claim_dirs = {key: Path(value) for key, value in (claim_dirs or {}).items()}
        self.node_name = node_name
        self.interval = interval
        self.grace_seconds = grace_seconds
        self.controllers = Controllers(self.api, namespace) if controllers else None
        self.base_env = {**(os.environ if inherit_env else {}), **(env or {})}
        self.ports = PortMap()
        self.errors: list[BaseException] = []
        self._records: dict[str, PodRecord] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProcessKubelet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(check=exc[0] is None)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="process-kubelet", daemon=True)
        self._thread.start()

    def stop(self, check: bool = True) -> None:
        """Stop the loop, SIGKILL every process; with `check`, raise the loop's first error."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for record in self._records.values():
                if record.process is not None:
                    record.process.kill()
        self.api.close()
        if check and self.errors:
            raise KubeletError(f"{len(self.errors)} error(s) in the process kubelet's loop; the first: "
                               f"{self.errors[0]!r}") from self.errors[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as error:  # a controller loop goes on; the errors are raised at stop()
                log.exception("process kubelet: pass failed")
                if len(self.errors) < MAX_ERRORS:
                    self.errors.append(error)
            self._stop.wait(self.interval)

    def sync_once(self) -> None:
        """One pass: the controllers, then this node's pods."""
        if self.controllers is not None:
            self.controllers.sync()
        with self._lock:
            self._sync_node()

    def _path(self, plural: str, name: str | None = None, subresource: str | None = None) -> str:
        return resource_path("v1", self.namespace, plural, name, subresource)

    def _is_mine(self, pod: Mapping[str, Any]) -> bool:
        return (pod.get("spec") or {}).get("nodeName") in (None, "", self.node_name)

    def _grace(self, pod: Mapping[str, Any]) -> float:
        if self.grace_seconds is not None:
            return self.grace_seconds
        given = meta(pod).get("deletionGracePeriodSeconds")
        if given is None:
            given = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        return float(given)

    def _sync_node(self) -> None:
        pods = self.api.list(self._path("pods")) or []
        listed = {uid_of(pod): pod for pod in pods if self._is_mine(pod)}
        services: list[Manifest] | None = None
        for uid, pod in listed.items():
            record = self._records.get(uid)
            if record is None:
                if is_terminal(pod):
                    continue
                record = self._records[uid] = PodRecord(pod=pod, pod_dir=self.root / "pods" / pod_dir_name(pod))
            record.pod = pod
            if is_deleting(pod):
                self._terminate(record)
            elif record.process is None and not record.finished:
                if services is None:
                    services = self.api.list(self._path("services")) or []
                self._start(record, services)
        for uid, record in list(self._records.items()):
            if uid not in listed:
                record.gone = True
                self._terminate(record)
            self._check(record)
            if record.gone and (record.process is None or record.process.poll() is not None):
                del self._records[uid]

    def _lookup(self, kind: str, name: str) -> dict[str, str] | None:
        plural = "secrets" if kind == "Secret" else "configmaps"
        found = self.api.get(self._path(plural, name))
        if found is None:
            return None
        return secret_data(found) if kind == "Secret" else configmap_data(found)

    def _start(self, record: PodRecord, services: list[Manifest]) -> None:
        pod = record.pod
        try:
            launch = plan_launch(pod, record.pod_dir, lookup=self._lookup,
                                 network=Network(self.namespace, services, self.ports), claim_root=self.root / "pvc",
                                 claim_dirs=self.claim_dirs, shared_dirs=self.volume_dirs)
        except (ContainerConfigError, ContainerCreateError) as error:
            log.info("pod %s cannot start: %s", record.name, error)
            self._write(record, self._waiting_status(record, error.reason, str(error)))
            return
        log_path = record.pod_dir / f"{record.container['name']}.log"
        try:
            record.process = ContainerProcess.start(launch, log_path=log_path, base_env=self.base_env)
        except OSError as error:
            record.finished = True
            at = now()
            state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(error),
                                    "startedAt": at, "finishedAt": at}}
            self._write(record, self._status(record, "Failed", state, at))
            return
        log.info("pod %s: started pid %s: %s", record.name, record.process.pid, " ".join(launch.argv))
        if (meta(pod).get("annotations") or {}).get(LOG_ANNOTATION) != str(log_path):
            self.api.patch(self._path("pods", record.name), {"metadata": {"annotations": {LOG_ANNOTATION:
                                                                                            str(log_path)}}})
        self._write_running(record)

    def _check(self, record: PodRecord) -> None:
        """Notice an ended process: write its terminated state, or start it again (OnFailure/Always)."""
        process = record.process
        if process is None:
            return
        process.enforce()
        code = process.poll()
        if code is None or record.finished:
            return
        log.info("pod %s: process %s exited with %s", record.name, process.pid, code)
        state = terminated(code, process.started_at, process.finished_at or now(), f"process://{process.pid}")
        policy = record.pod["spec"].get("restartPolicy", "Always")
        if not record.gone and not is_deleting(record.pod) and should_restart(policy, code):
            record.restarts += 1
            record.last_state = state
            record.process = None
            services = self.api.list(self._path("services")) or []
            self._start(record, services)
            return
        record.finished = True
        if not record.gone:
            phase = "Failed" if is_deleting(record.pod) and code != 0 else phase_after(code)
            self._write(record, self._status(record, phase, state, process.finished_at or now()))

    def _terminate(self, record: PodRecord) -> None:
        """A deleted pod: stop its process gracefully; once it is done, finish the deletion (grace 0)."""
        if record.process is not None and record.process.poll() is None:
            record.process.stop(self._grace(record.pod))
            return
        if not record.gone and is_deleting(record.pod) and (record.process is None or record.finished):
            self.api.delete(self._path("pods", record.name), grace_seconds=0)

    def _status(self, record: PodRecord, phase: str, state: Manifest, at: str) -> Manifest:
        running = phase == "Running"
        reason = None if running else {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase)
        process = record.process
        return {
            "phase": phase, "hostIP": POD_IP, "hostIPs": [{"ip": POD_IP}], "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}], "startTime": record.start_time, "qosClass": "BestEffort",
            "conditions": [*pod_conditions(at, ready=running, reason=reason), *record.extra_conditions],
            "containerStatuses": [container_status(
                record.container, state, restarts=record.restarts, last_state=record.last_state,
                container_id=f"process://{process.pid}" if process is not None else None)],
        }

    def _waiting_status(self, record: PodRecord, reason: str, message: str) -> Manifest:
        status = self._status(record, "Pending", {"waiting": {"reason": reason, "message": message}}, now())
        for condition in status["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["reason"] = "ContainersNotReady"
        return status

    def _write_running(self, record: PodRecord) -> None:
        assert record.process is not None
        state = {"running": {"startedAt": record.process.started_at}}
        self._write(record, self._status(record, "Running", state, record.process.started_at))

    def _write(self, record: PodRecord, status: Manifest) -> None:
        old = record.written if record.written is not None else (record.pod.get("status") or {})
        self.api.patch_status(self._path("pods", record.name), old, status)
        record.written = status

    def _find(self, pod_name: str) -> PodRecord:
        with self._lock:
            for record in self._records.values():
                if record.name == pod_name and record.process is not None and record.process.poll() is None:
                    return record
            running = sorted(r.name for r in self._records.values() if r.process and r.process.poll() is None)
        raise LookupError(f"pod {pod_name!r} has no running process on this kubelet (running: {running}); "
                          "wait until the pod is Running")

    def preempt(self, pod_name: str) -> None:
        """What the scheduler does to a preempted pod: DisruptionTarget=True (PreemptionByScheduler), then
        SIGTERM, and SIGKILL after the grace period. The pod ends Failed; a podFailurePolicy can Ignore it."""
        with self._lock:
            record = self._find(pod_name)
            record.extra_conditions.append({
                "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                "message": "default-scheduler: preempting to accommodate a higher priority pod",
                "lastProbeTime": None, "lastTransitionTime": now()})
            assert record.written is not None
            self._write(record, {**record.written,
                                 "conditions": [*record.written["conditions"], record.extra_conditions[-1]]})
            assert record.process is not None
            record.process.stop(self._grace(record.pod))

    def kill(self, pod_name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the pod's main process (a crash, an OOM kill: whatever the test needs)."""
        with self._lock:
            process = self._find(pod_name).process
            assert process is not None
            process.signal(sig)

    def log_path(self, pod_name: str) -> Path:
        """The log file of the pod's container (stdout and stderr)."""
        with self._lock:
            for record in self._records.values():
                if record.name == pod_name and record.process is not None:
                    return record.process.log_path
        raise LookupError(f"pod {pod_name!r} has not started on this kubelet")

    def local_port(self, service: str, port: int) -> int:
        """The local port that stands for `service`'s `port` in every pod."""
        return self.ports.local_port(self.namespace, service, port)

    def processes(self) -> dict[str, int]:
        """pod name -> pid of the processes running now."""
        with self._lock:
            return {r.name: r.process.pid for r in self._records.values()
                    if r.process is not None and r.process.poll() is None}
