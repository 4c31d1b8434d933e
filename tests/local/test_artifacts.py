"""The local runtime's artifact store: job files written through the models, children's files read back."""

from __future__ import annotations

import pytest

from genesys.api import Design, VerificationJob, load_manifest
from genesys.api.common import ObjectMeta
from genesys.api.contract import ContractError
from genesys.api.design import DesignSpec, DesignTree, Proposal, UnitSpec
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckReport, VerificationResult
from genesys.api.session import DesignSessionJob, SessionOutcome
from genesys.api.verification import VerificationJobSpec
from genesys.local.artifacts import ArtifactStore


def _store(tmp_path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", "demo")


def _design(name: str) -> Design:
    return Design(metadata=ObjectMeta(name=name), spec=DesignSpec(
        tree=DesignTree(root="B", units={"B": UnitSpec(code="")}), proposal=Proposal(title="t")))


def test_layout_and_job_files(tmp_path):
    store = _store(tmp_path)
    path = store.write_design(_design("d1"))
    assert path == tmp_path / "store" / "demo" / "designs" / "d1" / "design.yaml"
    spec = VerificationJobSpec(evolution="demo", design=str(path), rung="cpu-1", overrides={"tokens": 100}, seed=3,
                               check=False, attempt=2)
    job = load_manifest(store.write_verification_job("d1-cpu-1", spec), VerificationJob)
    assert job.spec == spec and job.metadata.labels == {"genesys.dev/evolution": "demo"}
    assert store.verification_dir("d1-cpu-1") == tmp_path / "store" / "demo" / "verifications" / "d1-cpu-1"
    session = load_manifest(store.write_session_job("d2", "mutation", ("d1",), 7, DesignerSpec(max_attempts=4), 1),
                            DesignSessionJob)
    assert (session.metadata.name, session.spec.parents, session.spec.seed, session.spec.store,
            session.spec.designer.max_attempts) == ("d2", ["d1"], 7, str(tmp_path / "store"), 4)


def test_session_outcomes(tmp_path):
    store = _store(tmp_path)
    assert store.read_session("d2") is None  # still running, or lost
    outcome = SessionOutcome(design="d2", status="failed", stage="check", reason="20 candidates failed", attempts=20)
    store.design_dir("d2").mkdir(parents=True)
    (store.design_dir("d2") / "outcome.json").write_text(outcome.to_json())
    assert store.read_session("d2") == outcome
    (store.design_dir("d2") / "outcome.json").write_text('{"status": "done"}')
    assert isinstance(store.read_session("d2"), ContractError)
    # succeeded, but the design it names does not load
    (store.design_dir("d2") / "outcome.json").write_text(SessionOutcome(design="d2", status="succeeded").to_json())
    (store.design_dir("d2") / "design.yaml").write_text("kind: Design\nmetadata: {name: d2}\n")
    err = store.read_session("d2")
    assert isinstance(err, ContractError) and "invalid design" in str(err)
    store.write_design(_design("d2"))
    assert store.read_session("d2").status == "succeeded"


def test_verification_results(tmp_path, make_result):
    store = _store(tmp_path)
    directory = store.verification_dir("v")
    assert store.read_verification("v") is None
    directory.mkdir(parents=True)
    (directory / "result.json").write_text("{not json")
    err = store.read_verification("v")
    assert isinstance(err, ContractError) and "result.json: not JSON" in str(err)
    (directory / "result.json").write_text('{"status": "succeeded", "design": "d", "rung": "cpu-1", "fitness": 0.4}')
    assert "needs fitness, scores, train and evaluation" in str(store.read_verification("v"))
    result = make_result("d", "cpu-1", fitness_stderr=0.01)
    (directory / "result.json").write_text(result.to_json())
    assert store.read_verification("v") == result


def test_checked_means_the_sessions_check_passed(tmp_path):
    store = _store(tmp_path)
    assert not store.checked("d1")
    store.design_dir("d1").mkdir(parents=True)
    (store.design_dir("d1") / "check.json").write_text(CheckReport(design="d1", passed=False).to_json())
    assert not store.checked("d1")
    (store.design_dir("d1") / "check.json").write_text(CheckReport(design="d1", passed=True).to_json())
    assert store.checked("d1") and store.read_check("d1").passed


def test_a_result_of_another_schema_version_is_refused(make_result):
    data = make_result().to_dict() | {"schemaVersion": 2}
    with pytest.raises(ContractError, match="schemaVersion 2, this genesys reads 1"):
        VerificationResult.from_dict(data, "r.json")
