"""How the operator reads a child's end from its conditions and pods (genesys.operator.children)."""

from __future__ import annotations

from genesys.evolution.outcomes import Exit, settle_verification
from genesys.operator.children import child_exit, finished, last_failed_pod, rank_zero
from result_builders import build_result


def _job(*conditions: tuple[str, str]) -> dict:
    return {"kind": "Job", "metadata": {"name": "demo-gpt2-cpu-1"},
            "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}


def _pod(name: str, code: int, finished_at: str, *, disrupted: bool = False) -> dict:
    conditions = [{"type": "DisruptionTarget", "status": "True"}] if disrupted else []
    return {"metadata": {"name": name, "namespace": "research"},
            "status": {"phase": "Failed", "conditions": conditions, "containerStatuses": [
                {"name": "pytorch", "state": {"terminated": {"exitCode": code, "finishedAt": finished_at}}}]}}


def test_a_running_child_has_not_ended():
    assert child_exit(_job(), []) is None
    assert child_exit(_job(("Complete", "False")), []) is None
    assert finished(_job(("Suspended", "True"))) is None


def test_success_of_a_job_and_of_a_pytorchjob_is_exit_zero():
    assert child_exit(_job(("Complete", "True")), []) == Exit(0)
    assert child_exit({"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}, []) == Exit(0)


def test_a_failed_child_ends_as_its_last_failed_pod_did():
    pods = [_pod("a", 3, "2026-11-30T10:00:00Z"), _pod("b", 2, "2026-11-30T10:05:00Z")]
    ended = child_exit(_job(("Failed", "True")), pods)
    assert ended is not None and ended.code == 2 and not ended.killed
    assert "pod/b" in ended.log and last_failed_pod(pods)["metadata"]["name"] == "b"


def test_disrupted_and_signalled_pods_were_stopped_from_outside():
    assert child_exit(_job(("Failed", "True")), [_pod("a", 1, "t", disrupted=True)]).killed
    assert child_exit(_job(("Failed", "True")), [_pod("a", 137, "t")]).killed


def test_a_vanished_child_is_a_loss_the_core_retries():
    assert child_exit(None, []) == Exit(None)
    assert settle_verification(None, child_exit(None, []), attempts=1).verdict == "retry"
    # failed, its pods gone: the runtime never saw how it ended
    assert child_exit(_job(("Failed", "True")), []) == Exit(None)


def test_a_result_decides_over_the_exit():
    failed_pod = child_exit(_job(("Failed", "True")), [_pod("a", 1, "t")])
    assert settle_verification(build_result(), failed_pod, attempts=1).verdict == "succeeded"
    assert settle_verification(None, failed_pod, attempts=1).verdict == "failed"


def test_rank_zero_is_the_newest_pod_of_index_zero_or_the_master():
    def pod(name: str, created: str, **labels: str) -> dict:
        return {"metadata": {"name": name, "creationTimestamp": created, "labels": labels}}

    index = "batch.kubernetes.io/job-completion-index"
    pods = [pod("a", "2026-11-30T10:00:00Z", **{index: "0"}), pod("c", "2026-11-30T10:05:00Z", **{index: "0"}),
            pod("b", "2026-11-30T10:09:00Z", **{index: "1"})]
    assert rank_zero(pods)["metadata"]["name"] == "c"
    replica = "training.kubeflow.org/replica-type"
    assert rank_zero([pod("m", "t", **{replica: "master"}), pod("w", "t", **{replica: "worker"})])[
        "metadata"]["name"] == "m"
    assert rank_zero([]) is None
