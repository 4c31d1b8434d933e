"""`python -m genesys.agents.session --job`: the design session's seam, as pods and the local runtime run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genesys.agents.session import DesignerResult, run_job
from genesys.api import ObjectMeta, dump_manifest
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckReport
from genesys.api.session import DesignSessionJob, DesignSessionJobSpec, SessionOutcome, SessionSpend


@pytest.fixture
def store(tmp_path: Path, seeds) -> Path:
    root = tmp_path / "store"
    for name in ("gpt2", "mamba2"):
        path = root / "demo" / "designs" / name / "design.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(dump_manifest(seeds[name]))
    return root


def _job(store: Path, name: str = "n1", **spec) -> DesignSessionJob:
    fields = {"evolution": "demo", "operation": "mutation", "parents": ["gpt2"], "seed": 3, "store": str(store),
              "designer": DesignerSpec(max_attempts=2), **spec}
    return DesignSessionJob(metadata=ObjectMeta(name=name), spec=DesignSessionJobSpec.model_validate(fields))


def test_the_entry_point_runs_a_job_file_and_writes_the_outcome_last(store, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(dump_manifest(_job(store)))
    out = store / "demo" / "designs" / "n1"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "genesys.agents.session", "--job", str(job), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    outcome = SessionOutcome.from_json((out / "outcome.json").read_text())
    assert done.returncode == (0 if outcome.status == "succeeded" else 1), done.stderr
    assert outcome.design == "n1" and outcome.checked >= 1 and outcome.spend.checks == outcome.checked
    events = [json.loads(line) for line in (out / "session.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "outcome"
    assert CheckReport.from_json((out / "check.json").read_text()).design == "n1"


def test_bad_job_input_exits_2_and_writes_nothing(store, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(dump_manifest(_job(store, parents=["gpt3"])))
    out = store / "demo" / "designs" / "n1"
    done = subprocess.run([sys.executable, "-m", "genesys.agents.session", "--job", str(job), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "parent 'gpt3' not found" in done.stderr and not out.exists()
    job.write_text(dump_manifest(_job(store)).replace("operation: mutation", "operation: mutate"))
    done = subprocess.run([sys.executable, "-m", "genesys.agents.session", "--job", str(job), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "spec.operation" in done.stderr and not out.exists()


def test_a_job_needs_the_parents_its_operation_takes(store):
    with pytest.raises(ValueError, match="crossover takes at least 2 parent"):
        _job(store, operation="crossover")


class _DiesMidway:
    """A designer killed after two attempts: what it recorded must be on disk."""

    def design(self, request, record):
        record({"event": "attempt", "attempt": 1})
        record({"event": "attempt", "attempt": 2})
        raise KeyboardInterrupt


def test_a_killed_session_leaves_its_transcript_and_no_outcome(store):
    out = store / "demo" / "designs" / "n1"
    with pytest.raises(KeyboardInterrupt):
        run_job(_job(store), out, designer=_DiesMidway())
    lines = [json.loads(line) for line in (out / "session.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["start", "attempt", "attempt"]
    assert all(line["session_attempt"] == 1 for line in lines) and not (out / "outcome.json").exists()


class _Fails:
    def design(self, request, record):
        assert [p.name for p in request.parents] == ["gpt2"]
        assert {"gpt2", "mamba2"} <= {d.name for d in request.existing}
        return DesignerResult(None, None, "proposal", "no proposal reached the reviewer's threshold", 4, 0,
                              SessionSpend(llm_calls=8, tokens=12000, usd=0.31))


def test_a_designer_behind_the_protocol_reports_its_stage_and_spend(store):
    out = store / "demo" / "designs" / "n1"
    outcome = run_job(_job(store, attempt=2), out, designer=_Fails())
    assert (outcome.status, outcome.stage, outcome.spend.usd, outcome.spend.tokens) == ("failed", "proposal", 0.31,
                                                                                        12000)
    assert SessionOutcome.from_json((out / "outcome.json").read_text()) == outcome


def test_an_llm_designer_without_its_settings_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="designer.kind llm needs designer.llm"):
        DesignerSpec(kind="llm")
