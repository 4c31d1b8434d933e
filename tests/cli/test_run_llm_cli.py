"""`genesys run` with an LLM designer: the preflight at start, spend in the views, the cost cap, an unusable LLM.

No LLM and no children here: the preflight is met with a missing key or a closed port, and where a
run must go on, the runner's subprocesses are replaced by scripted ones that end at once, sessions
with the outcome the test wrote for them (what a design session leaves in the store), verifications
with a result.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from genesys.api import Design, VerificationJob, dump_manifest, load_manifest, storage
from genesys.api.seed_library import load_seed
from genesys.api.session import DesignSessionJob, SessionOutcome, SessionSpend
from genesys.cli.main import app
from genesys.local.executor import Finished
from result_builders import build_result

runner = CliRunner()
KEY_ENV = "GENESYS_TEST_LLM_KEY"


def evolution(tmp_path: Path, llm: dict | None = None, **spec) -> Path:
    """One seed, one rung of 4 runs, one session at a time, an LLM designer (keyed by KEY_ENV)."""
    llm = {"roles": {"default": {"models": [{"model": "openai/test-model"}], "apiKeyEnv": KEY_ENV}}, **(llm or {})}
    manifest = {"apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution", "metadata": {"name": "demo"},
                "spec": {"seeds": ["gpt2"], "ladder": {"preset": "cpu", "rungs": [{"name": "cpu-1", "runs": 4}]},
                         "designer": {"kind": "llm", "llm": llm}, "selection": {"warmupDesigns": 1}, **spec}}
    path = tmp_path / "evo.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


def run(evo: Path, run_dir: Path):
    return runner.invoke(app, ["run", str(evo), "--run-dir", str(run_dir), "--quiet", "--metrics-port", "-1"],
                         terminal_width=200)


def text(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_key_stops_genesys_run_at_start_with_nothing_created(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = run(evolution(tmp_path), tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "the LLM designer cannot start" in result.output and KEY_ENV in result.output
    assert "nothing was started" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_an_unreachable_endpoint_stops_genesys_run_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    llm = {"roles": {"default": {"models": [{"model": "openai/test-model"}], "apiKeyEnv": KEY_ENV,
                                 "apiBase": f"http://127.0.0.1:{closed_port()}/v1", "timeoutSeconds": 5}},
           "retry": {"tries": 1, "baseDelaySeconds": 0}}
    result = run(evolution(tmp_path, llm), tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "the LLM designer cannot start" in result.output and "openai/test-model" in result.output
    assert "sk-test" not in result.output
    assert not (tmp_path / "run").exists()


def test_with_the_gp_designer_the_preflight_imports_no_litellm(tmp_path):
    evo = evolution(tmp_path)
    evo.write_text(evo.read_text().replace("kind: llm", "kind: gp"))
    code = ("import sys; from pathlib import Path; from genesys.cli.run import preflight_designer; "
            f"preflight_designer(Path({str(evo)!r})); "
            "assert 'litellm' not in sys.modules and 'genesys.agents.llm' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


class ScriptedChildren:
    """The runner's executor, with children that end as soon as they start.

    A session ends with `outcomes[name]` (a succeeded one leaves the gpt2 seed, renamed, as its
    design); a session the script does not name fails the test. A verification succeeds.
    """

    outcomes: dict[str, SessionOutcome] = {}
    jobs: list[DesignSessionJob] = []

    def __init__(self, *args, **kwargs):
        self.children: dict = {}
        self.done: list[Finished] = []

    def start_session(self, *, name: str, job_file: str, out: str, log: Path) -> None:
        self.jobs.append(load_manifest(Path(job_file), DesignSessionJob))
        outcome = self.outcomes[name]
        if outcome.status == "succeeded":
            seed = load_seed("gpt2")
            design = Design.model_validate({**seed.model_dump(by_alias=True), "metadata": {"name": name}})
            storage.write_text(f"{out}/design.yaml", dump_manifest(design))
        storage.write_text(f"{out}/outcome.json", outcome.to_json())
        self.done.append(Finished("session", name, 0 if outcome.status == "succeeded" else 1, log))

    def start_verification(self, *, name: str, job_file: str, out: str, nproc: int, log: Path) -> None:
        job = load_manifest(Path(job_file), VerificationJob)
        storage.write_text(f"{out}/result.json", build_result(Path(job.spec.design).parent.name, job.spec.rung,
                                                              fitness=0.4).to_json())
        self.done.append(Finished("verification", name, 0, log))

    def poll(self) -> list[Finished]:
        done, self.done = self.done, []
        return done

    def stop_all(self) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch):
    """Scripted children, and a preflight that passes and counts its calls."""
    calls = []
    monkeypatch.setattr("genesys.agents.llm.preflight", lambda spec: calls.append(spec) or [])
    monkeypatch.setattr("genesys.local.runner.Executor", ScriptedChildren)
    monkeypatch.setattr(ScriptedChildren, "outcomes", {})
    monkeypatch.setattr(ScriptedChildren, "jobs", [])
    return ScriptedChildren, calls


def outcome(name: str, usd: float, stage: str | None = None, reason: str = "") -> SessionOutcome:
    spend = SessionSpend(llm_calls=4, tokens=1000, usd=usd)
    if stage is None:
        return SessionOutcome(design=name, status="succeeded", title="a gated gpt2", spend=spend)
    return SessionOutcome(design=name, status="failed", stage=stage, reason=reason, spend=spend)


def test_the_cost_cap_ends_the_run_and_spend_reaches_jobs_designs_and_status(tmp_path, scripted):
    children, preflights = scripted
    children.outcomes.update({"design-0001": outcome("design-0001", 0.30),
                              "design-0002": outcome("design-0002", 0.25, "check", "no candidate passed")})
    evo = evolution(tmp_path, {"evolutionCostCapUSD": 0.5})
    result = run(evo, tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert len(preflights) == 1 and preflights[0].models() == ["openai/test-model"]
    # each session learns what the others spent before it
    assert [(j.metadata.name, j.spec.spent_usd) for j in children.jobs] == [("design-0001", 0.0),
                                                                             ("design-0002", 0.3)]
    assert "designer.llm.evolutionCostCapUSD reached ($0.55 of $0.50 spent on LLM calls)" in text(result)
    assert "Completed" in result.output and "LLM $0.55" in result.output

    listed = runner.invoke(app, ["designs", "--run-dir", str(tmp_path / "run"), "--json"])
    spent = {d["name"]: d["session_usd"] for d in json.loads(listed.output)}
    assert spent == {"gpt2": 0.0, "design-0001": 0.3, "design-0002": 0.25}
    table = runner.invoke(app, ["designs", "--run-dir", str(tmp_path / "run")], terminal_width=200).output
    assert "USD" in table and "$0.300" in table and "$0.250" in table
    status = text(runner.invoke(app, ["status", "--run-dir", str(tmp_path / "run")], terminal_width=200))
    assert "LLM $0.55" in status and "evolutionCostCapUSD reached" in status
    shown = text(runner.invoke(app, ["show", "design-0002", "--run-dir", str(tmp_path / "run")], terminal_width=200))
    assert "its design session spent $0.250 on LLM calls" in shown and "no candidate passed" in shown


def test_a_session_that_finds_the_llm_unusable_fails_the_run_with_its_reason(tmp_path, scripted):
    children, _ = scripted
    why = "authentication failed: openai/test-model refused the key in GENESYS_TEST_LLM_KEY"
    children.outcomes.update({"design-0001": outcome("design-0001", 0.0, "unavailable", why),
                              "design-0002": outcome("design-0002", 0.1)})  # started beside it: recorded
    evo, run_dir = evolution(tmp_path, parallelism={"designSessions": 2, "verifications": 2}), tmp_path / "run"
    result = run(evo, run_dir)
    assert result.exit_code == 1, result.output
    assert [j.metadata.name for j in children.jobs] == ["design-0001", "design-0002"]  # none after
    assert "demo  Failed" in result.output and "failed: the LLM designer cannot be used" in text(result)
    assert why in text(result)
    status = text(runner.invoke(app, ["status", "--run-dir", str(run_dir)], terminal_width=200))
    assert "Failed" in status and why in status and "LLM $0.10" in status

    again = run(evo, run_dir)  # the same state: the same end, and nothing new
    assert again.exit_code == 1 and len(children.jobs) == 2, again.output


def test_a_gp_run_shows_no_usd_column(tmp_path, scripted, monkeypatch):
    children, preflights = scripted
    children.outcomes["design-0001"] = outcome("design-0001", 0.0)
    evo = evolution(tmp_path, stop={"maxDesigns": 1})
    evo.write_text(evo.read_text().replace("kind: llm", "kind: gp"))
    assert run(evo, tmp_path / "run").exit_code == 0
    assert preflights == []
    table = runner.invoke(app, ["designs", "--run-dir", str(tmp_path / "run")], terminal_width=200).output
    assert "design-0001" in table and "USD" not in table
