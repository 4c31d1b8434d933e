"""Distributed training as the operator runs it, on one machine: torchrun ranks in two pods rendezvous over a
Service's remapped port, as an Indexed Job with a headless Service and as a PyTorchJob; ExitCode restarts."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Any

from genesys.operator.training import RENDEZVOUS_PORT, rendezvous_env
from kube_emulator import KubeEmulator
from process_kubelet.objects import condition_true, find_condition

# Each rank adds rank + 1: with two ranks the sum is 3 on both.
ALL_REDUCE = textwrap.dedent("""\
    import torch, torch.distributed as dist
    dist.init_process_group("gloo")
    total = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(total)
    print("rank", dist.get_rank(), "of", dist.get_world_size(), "sum", total.item(), flush=True)
    dist.destroy_process_group()
    raise SystemExit(0 if total.item() == 3.0 else 1)
""")
TORCHRUN = ["python", "-m", "torch.distributed.run", "/scripts/all_reduce.py"]
SCRIPT_VOLUME = {"name": "scripts", "configMap": {"name": "scripts"}}
SCRIPT_MOUNT = {"name": "scripts", "mountPath": "/scripts"}


def scripts(cluster: KubeEmulator, namespace: str) -> None:
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "scripts"},
                    "data": {"all_reduce.py": ALL_REDUCE}}, namespace)


def logs(pods: list[dict[str, Any]]) -> str:
    return "".join(Path(p["metadata"]["annotations"]["process-kubelet.genesys.dev/log"]).read_text() for p in pods)


def test_an_indexed_job_and_its_headless_service_rendezvous_over_the_remapped_port(cluster, namespace, kubelet):
    scripts(cluster, namespace)
    name = "rendezvous"
    cluster.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {
        "clusterIP": "None", "publishNotReadyAddresses": True, "selector": {"batch.kubernetes.io/job-name": name},
        "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "targetPort": RENDEZVOUS_PORT}]}}, namespace)
    container = {"name": "pytorch", "image": "trainer", "command": TORCHRUN, "volumeMounts": [SCRIPT_MOUNT],
                 "env": rendezvous_env(name, namespace, nodes=2, nproc=1)}  # the operator's own variables
    cluster.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {
        "completionMode": "Indexed", "completions": 2, "parallelism": 2, "backoffLimit": 0,
        "template": {"spec": {"restartPolicy": "Never", "subdomain": name, "containers": [container],
                              "volumes": [SCRIPT_VOLUME]}}}}, namespace)

    def finished() -> dict[str, Any] | None:
        job = cluster.get("Job", name, namespace)
        conditions = ((job or {}).get("status") or {}).get("conditions")
        return job if condition_true(conditions, "Complete") or condition_true(conditions, "Failed") else None

    job = cluster.wait_for(finished, 120, "the Indexed Job to finish")
    pods = cluster.objects("Pod", namespace)
    assert condition_true(job["status"]["conditions"], "Complete"), logs(pods)
    assert job["status"]["completedIndexes"] == "0-1" and job["status"]["succeeded"] == 2
    output = logs(pods)
    assert "rank 0 of 2 sum 3.0" in output and "rank 1 of 2 sum 3.0" in output
    assert str(RENDEZVOUS_PORT) not in output  # nothing listened on the cluster port itself
    assert kubelet.local_port(name, RENDEZVOUS_PORT) != RENDEZVOUS_PORT


def pytorch_job(name: str, *, command: list[str], workers: int, env: list[dict] | None = None,
                volumes: list[dict] | None = None, mounts: list[dict] | None = None,
                backoff: int = 2) -> dict[str, Any]:
    template = {"spec": {"containers": [{"name": "pytorch", "image": "trainer", "command": command,
                                         "env": env or [], "volumeMounts": mounts or []}],
                         "volumes": volumes or []}}
    replicas = {"Master": {"replicas": 1, "restartPolicy": "ExitCode", "template": template}}
    if workers:
        replicas["Worker"] = {"replicas": workers, "restartPolicy": "ExitCode", "template": template}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"nprocPerNode": "1", "runPolicy": {"backoffLimit": backoff, "cleanPodPolicy": "None"},
                     "pytorchReplicaSpecs": replicas}}


def finished_pytorch_job(cluster: KubeEmulator, name: str, namespace: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = cluster.get("PyTorchJob", name, namespace)
        conditions = ((job or {}).get("status") or {}).get("conditions")
        return job if condition_true(conditions, "Succeeded") or condition_true(conditions, "Failed") else None
    return cluster.wait_for(done, timeout, f"PyTorchJob {name} to finish")


def test_a_pytorchjob_master_and_worker_rendezvous_and_succeed(cluster, namespace, kubelet):
    scripts(cluster, namespace)
    cluster.create(pytorch_job("ptj", command=TORCHRUN, workers=1, volumes=[SCRIPT_VOLUME], mounts=[SCRIPT_MOUNT]),
                   namespace)
    job = finished_pytorch_job(cluster, "ptj", namespace, 120)
    pods = cluster.objects("Pod", namespace)
    assert condition_true(job["status"]["conditions"], "Succeeded"), logs(pods)
    assert {p["metadata"]["name"] for p in pods} == {"ptj-master-0", "ptj-worker-0"}
    assert {s["metadata"]["name"] for s in cluster.objects("Service", namespace)} == {"ptj-master-0", "ptj-worker-0"}
    output = logs(pods)
    assert "rank 0 of 2 sum 3.0" in output and "rank 1 of 2 sum 3.0" in output
    statuses = job["status"]["replicaStatuses"]
    assert statuses["Master"]["succeeded"] == 1 and job["status"]["completionTime"]
    assert [c["type"] for c in job["status"]["conditions"]][0] == "Created"


def test_a_signal_killed_master_is_restarted_and_an_error_exit_fails_the_job(cluster, namespace, kubelet, tmp_path):
    marker = tmp_path / "kubelet" / "pvc" / "work" / "started"
    code = ("import os, pathlib, sys, time; m = pathlib.Path(os.environ['MARKER']); "
            "m.exists() and sys.exit(int(os.environ['THEN'])); m.touch(); time.sleep(120)")
    work = {"volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": "work"}}],
            "mounts": [{"name": "work", "mountPath": "/work"}]}
    env = [{"name": "MARKER", "value": "/work/started"}, {"name": "THEN", "value": "0"}]
    cluster.create(pytorch_job("restarts", command=["python", "-c", code], workers=0, env=env, **work), namespace)
    cluster.wait_for(lambda: marker.exists() and kubelet.processes().get("restarts-master-0"), 30, "the master")
    first = cluster.get("Pod", "restarts-master-0", namespace)
    kubelet.kill("restarts-master-0", signal.SIGKILL)
    job = finished_pytorch_job(cluster, "restarts", namespace, 30)
    assert condition_true(job["status"]["conditions"], "Succeeded")
    second = cluster.get("Pod", "restarts-master-0", namespace)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]  # deleted and created again, same name
    written = [w.object for w in cluster.history if w.kind == "PyTorchJob" and w.name == "restarts"]
    restarting = [find_condition(o["status"].get("conditions"), "Restarting") for o in written if o.get("status")]
    assert any(c and c["reason"] == "PyTorchJobRestarting" for c in restarting)

    marker.unlink()
    env[1]["value"] = "1"  # the second run now exits 1: a verdict, not retried
    cluster.create(pytorch_job("verdict", command=["python", "-c", code], workers=0, env=env, **work), namespace)
    cluster.wait_for(lambda: marker.exists() and kubelet.processes().get("verdict-master-0"), 30, "the master")
    kubelet.kill("verdict-master-0", signal.SIGKILL)
    job = finished_pytorch_job(cluster, "verdict", namespace, 30)
    failed = find_condition(job["status"]["conditions"], "Failed")
    assert failed["reason"] == "PyTorchJobFailed"
    assert failed["message"] == 'job "verdict" is failing because "Master" replica(s) failed.'
