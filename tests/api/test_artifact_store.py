"""The local runtime's artifact store: job files written through the models, children's files read back,
in a local directory and in an fsspec store (memory://, as s3:// would be)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import fsspec
import pytest

from genesys.api import Design, VerificationJob, storage
from genesys.api.artifact_store import ArtifactStore
from genesys.api.common import ObjectMeta
from genesys.api.contract import ContractError
from genesys.api.design import DesignSpec, DesignTree, Proposal, UnitSpec
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckReport, VerificationResult
from genesys.api.session import DesignSessionJob, SessionOutcome
from genesys.api.verification import VerificationJobSpec


@pytest.fixture(params=["local", "memory"])
def root(request, tmp_path) -> Iterator[str]:
    if request.param == "local":
        yield str(tmp_path / "store")
        return
    url = f"memory://artifacts-{uuid.uuid4().hex}"
    yield url
    with contextlib.suppress(FileNotFoundError):  # memory:// lives as long as the process
        fsspec.filesystem("memory").rm(url, recursive=True)


def _store(root: str) -> ArtifactStore:
    return ArtifactStore(root, "demo")


def _design(name: str) -> Design:
    return Design(metadata=ObjectMeta(name=name), spec=DesignSpec(
        tree=DesignTree(root="B", units={"B": UnitSpec(code="")}), proposal=Proposal(title="t")))


def test_layout_and_job_files(root):
    store = _store(root)
    assert store.read_design("d1") is None
    path = store.write_design(_design("d1"))
    assert path == f"{root}/demo/designs/d1/design.yaml" and store.read_design("d1") == _design("d1")
    spec = VerificationJobSpec(evolution="demo", design=path, rung="cpu-1", overrides={"tokens": 100}, seed=3,
                               check=False, attempt=2)
    job = storage.read_manifest(store.write_verification_job("d1-cpu-1", spec), VerificationJob)
    assert job.spec == spec and job.metadata.labels == {"genesys.dev/evolution": "demo"}
    assert store.verification_dir("d1-cpu-1") == f"{root}/demo/verifications/d1-cpu-1"
    session = storage.read_manifest(
        store.write_session_job("d2", "mutation", ("d1",), 7, DesignerSpec(max_attempts=4), 1), DesignSessionJob)
    assert (session.metadata.name, session.spec.parents, session.spec.seed, session.spec.store,
            session.spec.designer.max_attempts) == ("d2", ["d1"], 7, root, 4)


def test_a_path_root_is_its_directory(tmp_path):
    assert ArtifactStore(tmp_path, "demo").write_design(_design("d1")) == f"{tmp_path}/demo/designs/d1/design.yaml"


def test_session_outcomes(root):
    store = _store(root)
    outcome_file = f"{store.design_dir('d2')}/outcome.json"
    assert store.read_session("d2") is None  # still running, or lost
    outcome = SessionOutcome(design="d2", status="failed", stage="check", reason="20 candidates failed", attempts=20)
    storage.write_text(outcome_file, outcome.to_json())
    assert store.read_session("d2") == outcome
    storage.write_text(outcome_file, '{"status": "done"}')
    assert isinstance(store.read_session("d2"), ContractError)
    # succeeded, but the design it names does not load
    storage.write_text(outcome_file, SessionOutcome(design="d2", status="succeeded").to_json())
    storage.write_text(store.design_file("d2"), "kind: Design\nmetadata: {name: d2}\n")
    err = store.read_session("d2")
    assert isinstance(err, ContractError) and "invalid design" in str(err)
    store.write_design(_design("d2"))
    assert store.read_session("d2").status == "succeeded"


def test_verification_results(root, make_result):
    store = _store(root)
    result_file = f"{store.verification_dir('v')}/result.json"
    assert store.read_verification("v") is None
    storage.write_text(result_file, "{not json")
    err = store.read_verification("v")
    assert isinstance(err, ContractError) and "result.json: not JSON" in str(err)
    storage.write_text(result_file, '{"status": "succeeded", "design": "d", "rung": "cpu-1", "fitness": 0.4}')
    assert "needs fitness, scores, train and evaluation" in str(store.read_verification("v"))
    storage.write_bytes(result_file, b"\xff\xfe")
    assert "not UTF-8" in str(store.read_verification("v"))
    result = make_result("d", "cpu-1", fitness_stderr=0.01)
    storage.write_text(result_file, result.to_json())
    assert store.read_verification("v") == result


def test_checked_means_the_sessions_check_passed(root):
    store = _store(root)
    check_file = f"{store.design_dir('d1')}/check.json"
    assert not store.checked("d1")
    storage.write_text(check_file, CheckReport(design="d1", passed=False).to_json())
    assert not store.checked("d1")
    storage.write_text(check_file, CheckReport(design="d1", passed=True).to_json())
    assert store.checked("d1") and store.read_check("d1").passed


def test_a_result_of_another_schema_version_is_refused(make_result):
    data = make_result().to_dict() | {"schemaVersion": 2}
    with pytest.raises(ContractError, match="schemaVersion 2, this genesys reads 1"):
        VerificationResult.from_dict(data, "r.json")
