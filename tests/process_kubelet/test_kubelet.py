"""Jobs run as processes against the emulated API server: completion, podFailurePolicy, preemption, env, volumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from genesys.operator.pods import EXIT_BAD_INPUT, failure_policy
from kube_emulator import KubeEmulator
from process_kubelet import ProcessKubelet
from process_kubelet.kubelet import LOG_ANNOTATION
from process_kubelet.objects import condition_true, find_condition

# waits until a file appears (a test's signal to go on), then sleeps: a pod that runs until told otherwise
SLEEPER = "import os, pathlib, time; pathlib.Path(os.environ['MARKER']).touch(); time.sleep(120)"


def job(name: str, code: str, *, args: tuple[str, ...] = (), backoff: int = 6, policy: dict | None = None,
        env: list[dict] | None = None, env_from: list[dict] | None = None,
        volumes: list[dict] | None = None, mounts: list[dict] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "python", "command": ["python", "-c", code, *args],
                                 "env": env or [], "volumeMounts": mounts or []}
    if env_from:
        container["envFrom"] = env_from
    spec: dict[str, Any] = {"backoffLimit": backoff, "template": {"spec": {
        "restartPolicy": "Never", "containers": [container], "volumes": volumes or []}}}
    if policy:
        spec["podFailurePolicy"] = policy
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def finished(cluster: KubeEmulator, name: str, namespace: str, timeout: float = 30) -> dict[str, Any]:
    """The Job once it is Complete or Failed."""
    def done() -> dict[str, Any] | None:
        found = cluster.get("Job", name, namespace)
        conditions = ((found or {}).get("status") or {}).get("conditions")
        return found if condition_true(conditions, "Complete") or condition_true(conditions, "Failed") else None
    return cluster.wait_for(done, timeout, f"Job {name} to finish")


def pods_of(cluster: KubeEmulator, name: str, namespace: str) -> list[dict[str, Any]]:
    pods = [p for p in cluster.objects("Pod", namespace)
            if p["metadata"]["labels"].get("batch.kubernetes.io/job-name") == name]
    return sorted(pods, key=lambda p: p["metadata"]["name"])


def running_pod(cluster: KubeEmulator, name: str, namespace: str, marker: Path) -> dict[str, Any]:
    """The Job's running pod, once its process has signalled (touched `marker`)."""
    def ready() -> dict[str, Any] | None:
        running = [p for p in pods_of(cluster, name, namespace) if p["status"]["phase"] == "Running"]
        return running[0] if running and marker.exists() else None
    return cluster.wait_for(ready, 30, f"a running pod of Job {name}")


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["status"]["containerStatuses"][0]["state"]["terminated"]


def test_a_job_whose_process_exits_0_completes(cluster, namespace, kubelet, tmp_path):
    code = ("import os, pathlib, sys; print('hello from', os.environ['HOSTNAME']); "
            "pathlib.Path(sys.argv[1]).write_text(os.environ['HOME'])")
    cluster.create(job("hello", code, args=("/shared/out.txt",), env=[{"name": "HOME", "value": "/tmp"}],
                       volumes=[{"name": "tmp", "emptyDir": {}}, {"name": "shared", "emptyDir": {}}],
                       mounts=[{"name": "tmp", "mountPath": "/tmp"}, {"name": "shared", "mountPath": "/shared"}]),
                   namespace)
    done = finished(cluster, "hello", namespace)
    status = done["status"]
    assert condition_true(status["conditions"], "Complete") and condition_true(status["conditions"],
                                                                                "SuccessCriteriaMet")
    assert status["succeeded"] == 1 and status["completionTime"] and status["startTime"]
    [pod] = pods_of(cluster, "hello", namespace)
    assert pod["status"]["phase"] == "Succeeded" and pod["status"]["podIP"] == "127.0.0.1"
    assert terminated(pod)["exitCode"] == 0 and terminated(pod)["reason"] == "Completed"
    log = Path(pod["metadata"]["annotations"][LOG_ANNOTATION])
    assert log.read_text().strip() == f"hello from {pod['metadata']['name']}"
    home = Path((tmp_path / "shared" / "out.txt").read_text())  # the argv path went to the shared folder
    assert home.is_dir() and home.name == "tmp" and str(home).startswith(str(kubelet.root))


def test_a_fail_job_exit_code_fails_the_job_at_once(cluster, namespace, kubelet):
    policy = failure_policy("main", final_codes=(EXIT_BAD_INPUT,))  # the operator's own policy
    cluster.create(job("bad-input", f"raise SystemExit({EXIT_BAD_INPUT})", policy=policy), namespace)
    status = finished(cluster, "bad-input", namespace)["status"]
    [pod] = pods_of(cluster, "bad-input", namespace)
    failed = find_condition(status["conditions"], "Failed")
    assert failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == (f"Container main for pod {namespace}/{pod['metadata']['name']} failed with exit "
                                 "code 2 matching FailJob rule at index 1")
    assert status["failed"] == 1 and terminated(pod)["reason"] == "Error"


def test_a_counted_exit_code_is_retried_until_the_backoff_limit(cluster, namespace, kubelet):
    cluster.create(job("interrupted", "raise SystemExit(3)", backoff=1, policy=failure_policy("main", (2,))),
                   namespace)
    status = finished(cluster, "interrupted", namespace)["status"]
    assert find_condition(status["conditions"], "Failed")["reason"] == "BackoffLimitExceeded"
    pods = pods_of(cluster, "interrupted", namespace)
    assert status["failed"] == 2 and len(pods) == 2
    assert [terminated(p)["exitCode"] for p in pods] == [3, 3]


def test_a_preempted_pod_is_ignored_and_the_job_completes_in_a_new_pod(cluster, namespace, kubelet, tmp_path):
    marker = tmp_path / "kubelet" / "pvc" / "work" / "started"
    code = f"import os, pathlib; pathlib.Path(os.environ['MARKER']).exists() and exit(0); {SLEEPER}"
    cluster.create(job("preempted", code, backoff=0, policy=failure_policy("main", (2,)),
                       env=[{"name": "MARKER", "value": "/work/started"}],
                       volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "work"}}],
                       mounts=[{"name": "work", "mountPath": "/work"}]), namespace)
    first = running_pod(cluster, "preempted", namespace, marker)
    kubelet.preempt(first["metadata"]["name"])
    status = finished(cluster, "preempted", namespace)["status"]
    assert condition_true(status["conditions"], "Complete") and "failed" not in status  # backoffLimit 0 held
    pods = pods_of(cluster, "preempted", namespace)
    [preempted] = [p for p in pods if p["metadata"]["uid"] == first["metadata"]["uid"]]
    [second] = [p for p in pods if p is not preempted]
    disruption = find_condition(preempted["status"]["conditions"], "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "PreemptionByScheduler")
    assert preempted["status"]["phase"] == "Failed" and terminated(preempted)["exitCode"] == 128 + signal.SIGTERM
    assert second["status"]["phase"] == "Succeeded"


def test_a_killed_pod_counts_as_a_failure(cluster, namespace, kubelet, tmp_path):
    marker = tmp_path / "kubelet" / "pvc" / "work" / "started"
    cluster.create(job("killed", SLEEPER, backoff=0, env=[{"name": "MARKER", "value": "/work/started"}],
                       volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "work"}}],
                       mounts=[{"name": "work", "mountPath": "/work"}]), namespace)
    pod = running_pod(cluster, "killed", namespace, marker)
    kubelet.kill(pod["metadata"]["name"], signal.SIGKILL)
    status = finished(cluster, "killed", namespace)["status"]
    assert find_condition(status["conditions"], "Failed")["reason"] == "BackoffLimitExceeded"
    assert terminated(pods_of(cluster, "killed", namespace)[0])["exitCode"] == 137


def test_a_missing_secret_holds_the_pod_until_it_exists(cluster, namespace, kubelet):
    cluster.create(job("secretive", "import os; print(os.environ['STORE_TOKEN'], os.environ['KEY'])",
                       env_from=[{"secretRef": {"name": "store"}}],
                       env=[{"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "key"}}}]),
                   namespace)

    def waiting() -> dict[str, Any] | None:
        pods = pods_of(cluster, "secretive", namespace)
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return statuses[0]["state"].get("waiting") if statuses else None

    state = cluster.wait_for(waiting, 20, "the pod to wait for its Secret")
    assert state == {"reason": "CreateContainerConfigError", "message": 'secret "store" not found'}
    cluster.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "store"},
                    "stringData": {"STORE_TOKEN": "s3cr3t"}}, namespace)
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                    "data": {"key": "value"}}, namespace)
    assert condition_true(finished(cluster, "secretive", namespace)["status"]["conditions"], "Complete")
    [pod] = pods_of(cluster, "secretive", namespace)
    assert kubelet.log_path(pod["metadata"]["name"]).read_text().split() == ["s3cr3t", "value"]


def test_deleting_a_job_kills_its_processes(cluster, namespace, kubelet, tmp_path):
    marker = tmp_path / "kubelet" / "pvc" / "work" / "started"
    cluster.create(job("doomed", SLEEPER, env=[{"name": "MARKER", "value": "/work/started"}],
                       volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "work"}}],
                       mounts=[{"name": "work", "mountPath": "/work"}]), namespace)
    pod = running_pod(cluster, "doomed", namespace, marker)
    pid = kubelet.processes()[pod["metadata"]["name"]]
    cluster.delete("Job", "doomed", namespace)
    cluster.wait_for(lambda: not kubelet.processes(), 20, "the pod's process to end")
    cluster.wait_for(lambda: not pods_of(cluster, "doomed", namespace), 10, "the pod to be gone")
    assert not _alive(pid)


def test_leaving_the_block_kills_every_process(cluster, namespace, tmp_path):
    marker = tmp_path / "kubelet" / "pvc" / "work" / "started"
    with ProcessKubelet(kubeconfig=cluster.kubeconfig, namespace=namespace, root=tmp_path / "kubelet") as kubelet:
        cluster.create(job("left", SLEEPER, env=[{"name": "MARKER", "value": "/work/started"}],
                           volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "work"}}],
                           mounts=[{"name": "work", "mountPath": "/work"}]), namespace)
        running_pod(cluster, "left", namespace, marker)
        [pid] = kubelet.processes().values()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def test_the_standalone_kubelet_runs_a_job_until_interrupted(cluster, namespace, tmp_path):
    support = Path(__file__).parents[1] / "support"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(support), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "process_kubelet", "--kubeconfig", str(cluster.kubeconfig), "--namespace",
               namespace, "--root", str(tmp_path / "standalone"), "--grace-seconds", "1"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as kubelet:
        try:
            cluster.create(job("standalone", "print('standalone')"), namespace)
            status = finished(cluster, "standalone", namespace)["status"]
        finally:
            kubelet.send_signal(signal.SIGINT)
            output, _ = kubelet.communicate(timeout=30)
    assert condition_true(status["conditions"], "Complete"), output
    assert kubelet.returncode == 0, output
    assert "job standalone: creating pod standalone-" in output
