"""The files between processes: their JSON is pinned by golden files, and bad files are refused clearly.

Regenerate the golden files after an intended change with GENESYS_UPDATE_GOLDEN=1 (and bump
schemaVersion when a reader of the old file could misread the new one).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genesys.api import ObjectMeta, VerificationJob, dump_manifest
from genesys.api.artifacts import ArtifactLayout
from genesys.api.contract import ContractError
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckItem, CheckReport, VerificationResult
from genesys.api.session import DesignSessionJob, DesignSessionJobSpec, SessionOutcome, SessionSpend
from genesys.api.verification import VerificationJobSpec

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GENESYS_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: if intended, GENESYS_UPDATE_GOLDEN=1"


def _check() -> CheckReport:
    return CheckReport(design="gpt2-m1", passed=True, seconds=3.2, complexity_exponent=1.02,
                       params={"non_embedding": 398336, "d_model": 128, "n_block": 2},
                       checks=[CheckItem(name="format", status="pass", message="ok"),
                               CheckItem(name="causality", status="warn", message="max leak 2e-7", unit="GatedMLP",
                                         line=12, seconds=0.4, details={"leak": 2e-7})])


def test_verification_result_json(make_result):
    result = make_result("gpt2-m1", "cpu-1", fitness=0.512, scores={"genesys_bpb": 0.61, "cola": 0.41},
                         baselines={"genesys_bpb": 0.1, "cola": 0.5}, wall_seconds=95.5, attempt=2, check=_check(),
                         math={"threads": 2, "mkl_cbwr": "AVX2,STRICT"}, config={"rung": {"name": "cpu-1"}})
    _golden("verification_result.json", result.to_json())
    assert VerificationResult.from_json(result.to_json()) == result


def test_failed_verification_result_json(make_result):
    result = make_result("gpt2-m1", status="failed", reason="diverged", message="loss is nan at step 40")
    _golden("verification_result_failed.json", result.to_json())


def test_session_outcome_and_check_report_json():
    outcome = SessionOutcome(design="gpt2-m1", status="succeeded", title="GQA in gpt2", attempts=5, checked=3,
                             spend=SessionSpend(seconds=41.5, checks=3))
    _golden("session_outcome.json", outcome.to_json())
    failed = SessionOutcome(design="s1", status="failed", stage="check", reason="no candidate passed in 20 checked "
                            "attempt(s); last: causality: output at t depends on t+1", attempts=20, checked=20)
    _golden("session_outcome_failed.json", failed.to_json())
    _golden("check_report.json", _check().to_json())


def test_job_manifests_yaml():
    session = DesignSessionJob(metadata=ObjectMeta(name="design-0004", labels={"genesys.dev/evolution": "demo"}),
                               spec=DesignSessionJobSpec(evolution="demo", operation="crossover",
                                                         parents=["gpt2", "mamba2"], seed=1234, store="s3://b/runs",
                                                         designer=DesignerSpec(max_attempts=8)))
    _golden("design_session_job.yaml", dump_manifest(session))
    job = VerificationJob(metadata=ObjectMeta(name="design-0004-cpu-1"), spec=VerificationJobSpec(
        evolution="demo", design="s3://b/runs/demo/designs/design-0004/design.yaml", rung="cpu-1",
        overrides={"tokens": 300000}, seed=0, check=False, attempt=1))
    _golden("verification_job.yaml", dump_manifest(job))


def test_the_layout_names_every_path_once():
    layout = ArtifactLayout(root="s3://bucket/runs/", evolution="demo")
    assert layout.design_file("d1") == "s3://bucket/runs/demo/designs/d1/design.yaml"
    assert layout.outcome_file("d1") == "s3://bucket/runs/demo/designs/d1/outcome.json"
    assert layout.session_job_file("d1") == "s3://bucket/runs/demo/designs/d1/job.yaml"
    assert layout.result_file("v1") == "s3://bucket/runs/demo/verifications/v1/result.json"
    assert ArtifactLayout(root="/", evolution="e").job_file("v") == "/e/verifications/v/job.yaml"
    assert ArtifactLayout(root="runs/a", evolution="e").check_file("d") == "runs/a/e/designs/d/check.json"


@pytest.mark.parametrize("text,message", [
    ("{", "not JSON"),
    ('{"design": "d", "rung": "r", "status": "done"}', "status"),
    ('{"design": "d", "rung": "r", "status": "failed"}', "needs a reason"),
    ('{"design": "d", "rung": "r", "status": "failed", "reason": "diverged", "extra": 1}', "extra"),
])
def test_bad_results_are_refused_naming_the_file_and_the_problem(text, message):
    with pytest.raises(ContractError, match=message) as err:
        VerificationResult.from_json(text, "runs/x/result.json")
    assert str(err.value).startswith("runs/x/result.json: ")


def test_a_failed_outcome_must_say_where_and_why():
    with pytest.raises(ValueError, match="needs a stage and a reason"):
        SessionOutcome(design="d", status="failed")
