"""The controllers' pass over a namespace: Jobs, PyTorchJobs and the garbage they leave, through the API only.

    controllers = Controllers(api, "default")
    controllers.sync()   # one pass: list, reconcile each object (jobs.py, pytorchjobs.py), write back

Also the garbage collector's part for what these controllers own: the pods (and a PyTorchJob's
Services) of an owner that no longer exists are deleted, so deleting a Job stops its processes
even on an API server without garbage collection.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from process_kubelet.api import KubeApi, resource_path
from process_kubelet.jobs import JobMemory, reconcile_job
from process_kubelet.objects import Manifest, controller_of, is_deleting, name_of, now, uid_of
from process_kubelet.pytorchjobs import PyTorchJobMemory, reconcile_pytorch_job

log = logging.getLogger("process_kubelet")
OWNER_KINDS = ("Job", "PyTorchJob")


def _by_owner(objects: Iterable[Mapping[str, Any]]) -> dict[str, list[Manifest]]:
    owned: dict[str, list[Manifest]] = defaultdict(list)
    for obj in objects:
        ref = controller_of(obj)
        if ref is not None and ref.get("kind") in OWNER_KINDS:
            owned[ref["uid"]].append(dict(obj))
    return owned


class Controllers:
    """The batch/v1 Job controller and the Kubeflow PyTorchJob controller for one namespace."""

    def __init__(self, api: KubeApi, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.job_memory: dict[str, JobMemory] = {}
        self.pytorch_memory: dict[str, PyTorchJobMemory] = {}

    def _path(self, group_version: str, plural: str, name: str | None = None) -> str:
        return resource_path(group_version, self.namespace, plural, name)

    def sync(self) -> None:
        pods = self.api.list(self._path("v1", "pods")) or []
        services = self.api.list(self._path("v1", "services")) or []
        jobs = self.api.list(self._path("batch/v1", "jobs")) or []
        pytorch_jobs = self.api.list(self._path("kubeflow.org/v1", "pytorchjobs")) or []  # None: no CRD
        pods_of, services_of = _by_owner(pods), _by_owner(services)
        for job in jobs:
            if not is_deleting(job):
                self._sync_job(job, pods_of.get(uid_of(job), []))
        for pytorch_job in pytorch_jobs:
            if not is_deleting(pytorch_job):
                uid = uid_of(pytorch_job)
                self._sync_pytorch_job(pytorch_job, pods_of.get(uid, []), services_of.get(uid, []))
        owners = {uid_of(obj) for obj in [*jobs, *pytorch_jobs]}
        self._collect_garbage(owners, pods_of, services_of)
        self.job_memory = {uid: memory for uid, memory in self.job_memory.items() if uid in owners}
        self.pytorch_memory = {uid: memory for uid, memory in self.pytorch_memory.items() if uid in owners}

    def _sync_job(self, job: Manifest, pods: list[Manifest]) -> None:
        memory = self.job_memory.setdefault(uid_of(job), JobMemory())
        plan = reconcile_job(job, memory.observe(pods), released=memory.released, at=now())
        for pod in plan.create:
            log.info("job %s: creating pod %s", name_of(job), name_of(pod))
            self.api.create(self._path("v1", "pods"), pod)
        memory.release(plan.release)
        for name in [*plan.delete, *plan.release]:
            log.info("job %s: deleting pod %s", name_of(job), name)
            self.api.delete(self._path("v1", "pods", name))
        self.api.patch_status(self._path("batch/v1", "jobs", name_of(job)), job.get("status") or {}, plan.status)

    def _sync_pytorch_job(self, job: Manifest, pods: list[Manifest], services: list[Manifest]) -> None:
        memory = self.pytorch_memory.setdefault(uid_of(job), PyTorchJobMemory())
        plan = reconcile_pytorch_job(job, pods, [name_of(service) for service in services], memory, at=now())
        for service in plan.services:
            self.api.create(self._path("v1", "services"), service)
        for pod in plan.pods:
            log.info("pytorchjob %s: creating pod %s", name_of(job), name_of(pod))
            self.api.create(self._path("v1", "pods"), pod)
        for name in plan.delete_pods:
            log.info("pytorchjob %s: deleting pod %s", name_of(job), name)
            self.api.delete(self._path("v1", "pods", name))
        for name in plan.delete_services:
            self.api.delete(self._path("v1", "services", name))
        self.api.patch_status(self._path("kubeflow.org/v1", "pytorchjobs", name_of(job)), job.get("status") or {},
                              plan.status)

    def _collect_garbage(self, owners: set[str], pods_of: Mapping[str, list[Manifest]],
                         services_of: Mapping[str, list[Manifest]]) -> None:
        for plural, owned in (("pods", pods_of), ("services", services_of)):
            for uid, objects in owned.items():
                if uid in owners:
                    continue
                for obj in objects:
                    if not is_deleting(obj):
                        log.info("owner %s is gone: deleting %s %s", uid, plural[:-1], name_of(obj))
                        self.api.delete(self._path("v1", plural, name_of(obj)))
