"""The PyTorchJob controller's logic without a server: replicas, torchrun's environment, ExitCode restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from process_kubelet.objects import find_condition
from process_kubelet.pytorchjobs import (
    PyTorchJobMemory,
    PyTorchJobPlan,
    is_retryable,
    reconcile_pytorch_job,
)

GOLDEN = Path(__file__).parents[1] / "operator" / "golden"
AT = "2025-01-01T00:00:00Z"
NAME = "demo-gpt2-paper-14m-r1"


def pytorch_job(*, suspend: bool = False) -> dict:
    """The operator's PyTorchJob (golden file): Master + 1 Worker, ExitCode, backoffLimit 2."""
    job = yaml.safe_load((GOLDEN / "pytorch_job.yaml").read_text())
    job["metadata"]["uid"] = "uid-ptj"
    job["spec"]["runPolicy"]["suspend"] = suspend
    return job


class Cluster:
    def __init__(self, job: dict) -> None:
        self.job = job
        self.pods: dict[str, dict] = {}
        self.services: set[str] = set()
        self.memory = PyTorchJobMemory()
        self.created = 0

    def sync(self) -> PyTorchJobPlan:
        plan = reconcile_pytorch_job(self.job, list(self.pods.values()), self.services, self.memory, at=AT)
        for pod in plan.pods:
            self.created += 1
            pod["metadata"]["uid"] = f"pod-{self.created}"
            pod["status"] = {"phase": "Running"}
            self.pods[pod["metadata"]["name"]] = pod
        self.services |= {service["metadata"]["name"] for service in plan.services}
        for name in plan.delete_pods:
            self.pods.pop(name, None)
        self.services -= set(plan.delete_services)
        self.job = {**self.job, "status": plan.status}
        return plan

    def end(self, name: str, exit_code: int) -> None:
        self.pods[name]["status"] = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [{"name": "pytorch", "state": {"terminated": {"exitCode": exit_code}}}]}

    def condition(self, kind: str) -> dict | None:
        return find_condition(self.job["status"].get("conditions"), kind)


def env_of(pod: dict) -> dict[str, str]:
    """The container's variables as the kubelet resolves them: a later entry wins."""
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"] if "value" in e}


def test_a_suspended_job_is_created_and_runs_nothing():
    cluster = Cluster(pytorch_job(suspend=True))
    plan = cluster.sync()
    assert plan.pods == [] and plan.services == []
    assert cluster.condition("Created")["reason"] == "PyTorchJobCreated"
    assert cluster.condition("Created")["message"] == f"PyTorchJob {NAME} is created."
    assert cluster.condition("Suspended")["status"] == "True"


def test_master_and_worker_pods_get_services_labels_and_torchrun_environment():
    cluster = Cluster(pytorch_job())
    plan = cluster.sync()
    assert sorted(p["metadata"]["name"] for p in plan.pods) == [f"{NAME}-master-0", f"{NAME}-worker-0"]
    assert sorted(s["metadata"]["name"] for s in plan.services) == [f"{NAME}-master-0", f"{NAME}-worker-0"]
    master, worker = (cluster.pods[f"{NAME}-{kind}-0"] for kind in ("master", "worker"))
    labels = master["metadata"]["labels"]
    assert labels["training.kubeflow.org/job-name"] == NAME
    assert labels["training.kubeflow.org/replica-type"] == "master"
    assert labels["training.kubeflow.org/replica-index"] == "0"
    assert labels["training.kubeflow.org/job-role"] == "master"
    assert labels["training.kubeflow.org/operator-name"] == "pytorchjob-controller"
    assert labels["genesys.dev/design"] == "gpt2"  # the template's labels are kept
    assert "training.kubeflow.org/job-role" not in worker["metadata"]["labels"]
    assert master["spec"]["restartPolicy"] == "Never"  # ExitCode: the operator restarts, not the kubelet
    assert master["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
    common = {"MASTER_ADDR": f"{NAME}-master-0", "PET_MASTER_ADDR": f"{NAME}-master-0", "MASTER_PORT": "23456",
              "PET_MASTER_PORT": "23456", "PET_NNODES": "2", "PET_NPROC_PER_NODE": "4", "WORLD_SIZE": "8"}
    for pod, rank in ((master, "0"), (worker, "1")):
        env = env_of(pod)
        assert {key: env[key] for key in common} == common
        assert env["PET_NODE_RANK"] == env["RANK"] == rank
        assert env["HOME"] == "/tmp"  # the template's own variables stay
        assert {"name": "pytorchjob-port", "containerPort": 23456} in pod["spec"]["containers"][0]["ports"]
    [service] = [s for s in plan.services if s["metadata"]["name"] == f"{NAME}-master-0"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [{"name": "pytorchjob-port", "port": 23456}]
    assert service["spec"]["selector"]["training.kubeflow.org/replica-type"] == "master"


def test_running_master_sets_running_and_replica_statuses():
    cluster = Cluster(pytorch_job())
    cluster.sync()
    plan = cluster.sync()
    assert cluster.condition("Running")["reason"] == "PyTorchJobRunning"
    assert plan.status["replicaStatuses"]["Master"]["active"] == 1
    assert plan.status["replicaStatuses"]["Worker"]["selector"] == (
        f"training.kubeflow.org/job-name={NAME},training.kubeflow.org/operator-name=pytorchjob-controller,"
        "training.kubeflow.org/replica-type=worker")
    assert plan.status["startTime"] == AT and plan.pods == []


def test_a_signal_killed_replica_is_restarted_until_the_backoff_limit():
    cluster = Cluster(pytorch_job())  # backoffLimit 2
    cluster.sync()
    master = f"{NAME}-master-0"
    for restart in (1, 2):
        cluster.end(master, 137)
        plan = cluster.sync()
        assert plan.delete_pods == [master] and cluster.memory.restarts == restart
        assert cluster.condition("Restarting")["reason"] == "PyTorchJobRestarting"
        assert cluster.condition("Running") is None  # Restarting replaces Running
        cluster.sync()
        assert cluster.pods[master]["status"]["phase"] == "Running"  # created again, same name
    cluster.end(master, 143)
    plan = cluster.sync()
    failed = cluster.condition("Failed")
    assert failed["reason"] == "PyTorchJobFailed"
    assert failed["message"] == f"Job {NAME} has failed because it has reached the specified backoff limit"
    assert sorted(plan.delete_pods) == [master, f"{NAME}-worker-0"] and plan.status["completionTime"] == AT


def test_an_exit_code_below_128_fails_the_job_and_keeps_its_pods():
    cluster = Cluster(pytorch_job())
    cluster.sync()
    cluster.end(f"{NAME}-worker-0", 1)
    plan = cluster.sync()
    failed = cluster.condition("Failed")
    assert (failed["reason"], failed["message"]) == ("PyTorchJobFailed",
                                                     f'job "{NAME}" is failing because "Worker" replica(s) failed.')
    assert plan.delete_pods == []  # cleanPodPolicy None
    assert cluster.sync().pods == [] and cluster.condition("Failed") == failed


def test_a_succeeded_master_succeeds_the_job():
    cluster = Cluster(pytorch_job())
    cluster.sync()
    cluster.sync()
    cluster.end(f"{NAME}-master-0", 0)
    cluster.end(f"{NAME}-worker-0", 0)
    plan = cluster.sync()
    succeeded = cluster.condition("Succeeded")
    assert (succeeded["status"], succeeded["reason"]) == ("True", "PyTorchJobSucceeded")
    assert succeeded["message"] == f"PyTorchJob {NAME} is successfully completed."
    assert cluster.condition("Running")["status"] == "False" and plan.status["completionTime"] == AT
    assert plan.status["replicaStatuses"]["Master"]["succeeded"] == 1


def test_resuming_a_suspended_job_starts_its_replicas():
    cluster = Cluster(pytorch_job(suspend=True))
    cluster.sync()
    cluster.job["spec"]["runPolicy"]["suspend"] = False
    plan = cluster.sync()
    assert len(plan.pods) == 2
    resumed = cluster.condition("Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "PyTorchJobResumed")


def test_suspending_a_running_job_deletes_its_pods():
    cluster = Cluster(pytorch_job())
    cluster.sync()
    cluster.sync()
    cluster.job["spec"]["runPolicy"]["suspend"] = True
    plan = cluster.sync()
    assert sorted(plan.delete_pods) == [f"{NAME}-master-0", f"{NAME}-worker-0"]
    assert cluster.condition("Running")["status"] == "False" and cluster.condition("Suspended")["status"] == "True"


@pytest.mark.parametrize(("policy", "code", "retry"), [
    ("ExitCode", 137, True), ("ExitCode", 143, True), ("ExitCode", 128, True), ("ExitCode", 127, False),
    ("ExitCode", 3, False), ("ExitCode", 1, False), ("OnFailure", 1, True), ("Always", 1, True), ("Never", 137, False),
])
def test_which_failures_are_retried(policy, code, retry):
    assert is_retryable(policy, code) is retry
