"""Reading children's results back from the artifact store: complete, failed, interrupted, missing, malformed."""

from __future__ import annotations

import json

from genesys.api import Design, VerificationJob, load_manifest
from genesys.api.common import ObjectMeta
from genesys.api.design import DesignSpec, DesignTree, Proposal, UnitSpec
from genesys.local.artifacts import ArtifactStore, read_session, read_verification


def _store(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", "demo")


def _result(store: ArtifactStore, name: str, result) -> None:
    directory = store.verification_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "result.json").write_text(result if isinstance(result, str) else json.dumps(result))


def test_layout_and_job_file(tmp_path):
    store = _store(tmp_path)
    design = Design(metadata=ObjectMeta(name="d1"), spec=DesignSpec(
        tree=DesignTree(root="B", units={"B": UnitSpec(code="")}), proposal=Proposal(title="t")))
    path = store.write_design(design)
    assert path == tmp_path / "store" / "demo" / "designs" / "d1" / "design.yaml"
    job = load_manifest(store.write_job("d1-cpu-1", "d1", "cpu-1", {"tokens": 100}, "local", "embedded", 3, False),
                        VerificationJob)
    assert (job.spec.design, job.spec.rung, job.spec.overrides, job.spec.seed, job.spec.check) == (
        str(path), "cpu-1", {"tokens": 100}, 3, False)
    assert read_session(store, "d1").status == "succeeded" and read_session(store, "d1").title == "t"


def test_session_outcomes(tmp_path):
    store = _store(tmp_path)
    assert read_session(store, "d2").status == "missing"
    store.design_dir("d2").mkdir(parents=True)
    (store.design_dir("d2") / "failed.json").write_text(json.dumps({"reason": "20 candidates failed", "attempts": 20}))
    assert (read_session(store, "d2").status, read_session(store, "d2").reason) == ("failed", "20 candidates failed")
    (store.design_dir("d2") / "design.yaml").write_text("kind: Design\nmetadata: {name: d2}\n")
    outcome = read_session(store, "d2")
    assert outcome.status == "failed" and "invalid design" in outcome.reason


def test_verification_outcomes(tmp_path):
    store = _store(tmp_path)
    assert read_verification(store, "v").status == "missing"
    _result(store, "v", "{not json")
    assert read_verification(store, "v").reason.startswith("malformed result")
    _result(store, "v", {"status": "interrupted", "reason": "preempted"})
    assert read_verification(store, "v").status == "interrupted"
    _result(store, "v", {"status": "failed", "reason": "diverged", "message": "loss is nan", "device_seconds": 4.0})
    failed = read_verification(store, "v")
    assert (failed.status, failed.reason, failed.device_seconds) == ("failed", "diverged: loss is nan", 4.0)
    _result(store, "v", {"status": "succeeded", "fitness": 0.4})
    assert "no scores" in read_verification(store, "v").reason
    _result(store, "v", {
        "status": "succeeded", "fitness": 0.4, "fitness_stderr": 0.01, "device_seconds": 10.0,
        "params": {"non_embedding": 123}, "heldout_loss": 5.0,
        "evaluation": {"seconds": 2.0, "scores": {"a": {"score": 0.5, "baseline": 0.25}, "b": {"score": 0.3}}},
    })
    ok = read_verification(store, "v")
    assert (ok.status, ok.fitness, ok.scores, ok.baselines, ok.device_seconds) == (
        "succeeded", 0.4, {"a": 0.5, "b": 0.3}, {"a": 0.25}, 12.0)
    assert ok.summary["params"] == 123 and ok.summary["fitness_stderr"] == 0.01
    assert ok.summary["threads"] == [None]  # a result from before threads were recorded


def test_threads_and_wall_time_of_a_verification_reach_its_summary_and_view(tmp_path):
    from genesys.local.snapshot import RungScores

    store = _store(tmp_path)
    _result(store, "v", {
        "status": "succeeded", "fitness": 0.4, "wall_seconds": 95.2, "math": {"threads": 1},
        "train": {"thread_history": [[0, 1], [120, 2]]}, "evaluation": {"scores": {"a": {"score": 0.5}}},
    })
    summary = read_verification(store, "v").summary
    assert summary["threads"] == [1, 2] and summary["wall_seconds"] == 95.2
    view = RungScores("cpu-1", 0.4, None, {}, {}, None, 1.0, None, wall_seconds=95.2, threads=(1, 2))
    assert view.resources_text() == "wall 95 s on 1\u21922 threads"
