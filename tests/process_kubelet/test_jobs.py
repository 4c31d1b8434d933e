"""The Job controller's logic without a server: pods created, podFailurePolicy, backoffLimit, Indexed completion."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from process_kubelet.jobs import (
    BACKOFF_MESSAGE,
    COMPLETION_INDEX,
    JobMemory,
    JobPlan,
    failure_action,
    format_indexes,
    reconcile_job,
)
from process_kubelet.objects import condition_true, find_condition

GOLDEN = Path(__file__).parents[1] / "operator" / "golden"
AT = "2025-01-01T00:00:00Z"


def session_job() -> dict:
    """The operator's design-session Job (golden file), unsuspended, as the API server stores it."""
    job = yaml.safe_load((GOLDEN / "session_job.yaml").read_text())
    job["metadata"]["uid"] = "uid-session"
    job["spec"]["suspend"] = False
    return job


def indexed_job() -> dict:
    job = next(doc for doc in yaml.safe_load_all((GOLDEN / "indexed_job.yaml").read_text()) if doc["kind"] == "Job")
    job["metadata"]["uid"] = "uid-train"
    job["spec"]["suspend"] = False
    return job


class Cluster:
    """The pods a Job's plans create, with uids, and the statuses a kubelet would give them."""

    def __init__(self, job: dict) -> None:
        self.job = job
        self.pods: list[dict] = []
        self.memory = JobMemory()

    def sync(self) -> JobPlan:
        plan = reconcile_job(self.job, self.memory.observe(self.pods), released=self.memory.released, at=AT)
        for n, pod in enumerate(plan.create):
            pod["metadata"]["uid"] = f"pod-{len(self.pods) + n}"
            pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        self.pods += plan.create
        self.memory.release(plan.release)
        self.job = {**self.job, "status": plan.status}
        return plan

    def live(self) -> list[dict]:
        return [pod for pod in self.pods if pod["status"]["phase"] == "Running"]

    def end(self, pod: dict, exit_code: int, *, disrupted: bool = False, container: str | None = None) -> None:
        name = container or pod["spec"]["containers"][0]["name"]
        pod["status"] = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]
            if disrupted else [],
            "containerStatuses": [{"name": name, "state": {"terminated": {"exitCode": exit_code}}}],
        }

    def condition(self, kind: str) -> dict | None:
        return find_condition(self.job["status"].get("conditions"), kind)


def test_a_job_gets_one_pod_named_labelled_and_owned_like_the_controller_makes_them():
    cluster = Cluster(session_job())
    plan = cluster.sync()
    [pod] = plan.create
    name = cluster.job["metadata"]["name"]
    assert re.fullmatch(rf"{name}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod["metadata"]["name"])
    labels = pod["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == name
    assert labels["batch.kubernetes.io/controller-uid"] == "uid-session"
    assert labels["app.kubernetes.io/component"] == "design-session"  # the template's labels are kept
    [owner] = pod["metadata"]["ownerReferences"]
    assert owner == {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": "uid-session",
                     "controller": True, "blockOwnerDeletion": True}
    assert "hostname" not in pod["spec"] and COMPLETION_INDEX not in labels
    assert plan.status["startTime"] == AT
    assert cluster.sync().create == []  # one completion, one pod running: nothing more


def test_a_pod_that_exits_0_completes_the_job():
    cluster = Cluster(session_job())
    cluster.sync()
    cluster.end(cluster.pods[0], 0)
    plan = cluster.sync()
    assert plan.create == [] and plan.status["succeeded"] == 1 and "failed" not in plan.status
    assert cluster.condition("SuccessCriteriaMet")["status"] == "True"
    complete = cluster.condition("Complete")
    assert complete["status"] == "True" and complete["reason"] == "CompletionsReached"
    assert plan.status["completionTime"] == AT and "active" not in plan.status


def test_a_fail_job_exit_code_fails_the_job_at_once_naming_container_and_code():
    cluster = Cluster(session_job())
    cluster.sync()
    pod = cluster.pods[0]
    cluster.end(pod, 2)
    plan = cluster.sync()
    assert plan.create == []
    failed = cluster.condition("Failed")
    assert failed["status"] == "True" and failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == (f"Container session for pod research/{pod['metadata']['name']} failed with exit "
                                 "code 2 matching FailJob rule at index 1")
    assert cluster.condition("FailureTarget")["message"] == failed["message"]
    assert plan.status["failed"] == 1 and "completionTime" not in plan.status  # only a success sets it


def test_a_counted_exit_code_is_retried_until_the_backoff_limit():
    cluster = Cluster(session_job())  # backoffLimit 2: three failures fail the Job
    cluster.sync()
    for attempt in range(1, 4):
        cluster.end(cluster.live()[0], 3)
        plan = cluster.sync()
        assert plan.status["failed"] == attempt
        if attempt < 3:
            assert len(plan.create) == 1 and cluster.condition("Failed") is None
    assert plan.create == []
    assert cluster.condition("Failed")["reason"] == "BackoffLimitExceeded"
    assert cluster.condition("Failed")["message"] == BACKOFF_MESSAGE


def test_a_preempted_pod_is_ignored_and_replaced_even_with_a_fail_job_exit_code():
    cluster = Cluster(session_job())
    cluster.sync()
    cluster.end(cluster.pods[0], 2, disrupted=True)  # the Ignore rule comes first
    plan = cluster.sync()
    assert len(plan.create) == 1 and "failed" not in plan.status and cluster.condition("Failed") is None
    cluster.end(cluster.live()[0], 0)
    assert cluster.sync().status["succeeded"] == 1 and cluster.condition("Complete")["status"] == "True"


@pytest.mark.parametrize(("rule", "exit_code", "container", "action"), [
    ({"containerName": "main", "operator": "In", "values": [5]}, 5, "main", "FailJob"),
    ({"containerName": "main", "operator": "In", "values": [5]}, 5, "sidecar", None),  # another container
    ({"operator": "In", "values": [5]}, 5, "sidecar", "FailJob"),  # no containerName: any container
    ({"containerName": "main", "operator": "NotIn", "values": [3]}, 7, "main", "FailJob"),
    ({"containerName": "main", "operator": "NotIn", "values": [3]}, 3, "main", None),
    ({"containerName": "main", "operator": "NotIn", "values": [3]}, 0, "main", None),  # success never matches
])
def test_on_exit_codes_rules(rule, exit_code, container, action):
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "status": {"phase": "Failed",
                      "containerStatuses": [{"name": container, "state": {"terminated": {"exitCode": exit_code}}}]}}
    found, message = failure_action({"rules": [{"action": "FailJob", "onExitCodes": rule}]}, pod)
    assert found == action
    if action == "FailJob":
        assert message == f"Container {container} for pod ns/p failed with exit code {exit_code} matching FailJob " \
                          "rule at index 0"


def test_a_fail_job_on_a_pod_condition_names_the_condition():
    policy = {"rules": [{"action": "Count", "onExitCodes": {"operator": "In", "values": [9]}},
                        {"action": "FailJob", "onPodConditions": [{"type": "ConfigIssue", "status": "True"}]}]}
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "status": {"phase": "Failed", "conditions": [{"type": "ConfigIssue", "status": "True"}]}}
    assert failure_action(policy, pod) == ("FailJob", "Pod ns/p has condition ConfigIssue matching FailJob rule at "
                                                      "index 1")


def test_an_indexed_job_gets_a_pod_per_index_with_hostname_index_and_rank_variable():
    cluster = Cluster(indexed_job())
    plan = cluster.sync()
    name = cluster.job["metadata"]["name"]
    assert [p["metadata"]["annotations"][COMPLETION_INDEX] for p in plan.create] == ["0", "1"]
    for index, pod in enumerate(plan.create):
        assert re.fullmatch(rf"{name}-{index}-[a-z0-9]{{5}}", pod["metadata"]["name"])
        assert pod["metadata"]["labels"][COMPLETION_INDEX] == str(index)
        assert pod["spec"]["hostname"] == f"{name}-{index}" and pod["spec"]["subdomain"] == name
        env = pod["spec"]["containers"][0]["env"]
        assert env[0] == {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
        assert {"name": "PET_NNODES", "value": "2"} in env  # the operator's own variables stay


def test_an_indexed_job_replaces_only_the_failed_index_then_completes():
    cluster = Cluster(indexed_job())
    cluster.sync()
    first, second = cluster.pods
    cluster.end(first, 0)
    cluster.end(second, 3)  # Count: retried
    plan = cluster.sync()
    assert [p["metadata"]["annotations"][COMPLETION_INDEX] for p in plan.create] == ["1"]
    assert plan.status["completedIndexes"] == "0" and plan.status["succeeded"] == 1 and plan.status["failed"] == 1
    cluster.end(cluster.live()[0], 0)
    plan = cluster.sync()
    assert plan.status["completedIndexes"] == "0-1" and plan.status["succeeded"] == 2
    assert cluster.condition("Complete")["status"] == "True"


@pytest.mark.parametrize(("indexes", "text"), [([], ""), ([0], "0"), ([0, 1, 2], "0-2"), ([5, 0, 1, 3], "0-1,3,5"),
                                               ([1, 1, 2], "1-2")])
def test_completed_indexes_are_compressed_runs(indexes, text):
    assert format_indexes(indexes) == text


def test_a_failing_job_deletes_its_active_pods_and_is_failed_once_they_are_gone():
    cluster = Cluster(indexed_job())
    cluster.sync()
    failing, other = cluster.pods
    cluster.end(failing, 2)
    plan = cluster.sync()
    assert plan.delete == [other["metadata"]["name"]] and plan.create == []
    assert cluster.condition("FailureTarget")["reason"] == "PodFailurePolicy" and cluster.condition("Failed") is None
    other["metadata"]["deletionTimestamp"] = AT  # terminating
    plan = cluster.sync()
    assert cluster.condition("Failed") is None and plan.status["terminating"] == 1
    cluster.pods.remove(other)  # gone
    plan = cluster.sync()
    assert cluster.condition("Failed")["message"] == cluster.condition("FailureTarget")["message"]
    assert plan.status["failed"] == 2 and plan.status["terminating"] == 0


def test_a_suspended_job_runs_nothing_until_resumed():
    job = session_job()
    job["spec"]["suspend"] = True
    cluster = Cluster(job)
    plan = cluster.sync()
    assert plan.create == [] and "startTime" not in plan.status
    assert cluster.condition("Suspended")["reason"] == "JobSuspended"
    cluster.job = copy.deepcopy(cluster.job)
    cluster.job["spec"]["suspend"] = False
    plan = cluster.sync()
    assert len(plan.create) == 1 and plan.status["startTime"] == AT
    suspended = cluster.condition("Suspended")
    assert (suspended["status"], suspended["reason"]) == ("False", "JobResumed")


def test_suspending_deletes_running_pods_without_counting_them():
    cluster = Cluster(session_job())
    cluster.sync()
    assert cluster.sync().status["active"] == 1
    cluster.job["spec"]["suspend"] = True
    plan = cluster.sync()
    assert plan.release == [cluster.pods[0]["metadata"]["name"]]
    cluster.pods.clear()  # deleted
    plan = cluster.sync()
    assert "failed" not in plan.status and "active" not in plan.status


def test_a_running_pod_deleted_by_someone_else_counts_as_failed():
    cluster = Cluster(session_job())
    cluster.sync()
    assert cluster.sync().status["active"] == 1  # seen running
    cluster.pods.clear()
    plan = cluster.sync()
    assert plan.status["failed"] == 1 and len(plan.create) == 1


def test_a_finished_job_is_left_alone():
    cluster = Cluster(session_job())
    cluster.sync()
    cluster.end(cluster.pods[0], 0)
    cluster.sync()
    cluster.pods.clear()
    plan = cluster.sync()
    assert plan.create == [] and plan.status == cluster.job["status"]
    assert condition_true(plan.status["conditions"], "Complete")


def test_a_work_queue_job_completes_when_one_pod_succeeds_and_none_is_active():
    job = session_job()
    job["spec"]["parallelism"] = 2  # no completions: a work queue
    cluster = Cluster(job)
    assert len(cluster.sync().create) == 2
    cluster.end(cluster.pods[0], 0)
    plan = cluster.sync()
    assert plan.create == [] and cluster.condition("Complete") is None  # the other is still active
    cluster.end(cluster.pods[1], 0)
    cluster.sync()
    assert cluster.condition("Complete")["status"] == "True"
