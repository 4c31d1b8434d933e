"""`genesys design`: the artifact-store layout, atomic results, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from genesys.agents.fingerprint import fingerprint
from genesys.api import Design, dump_manifest, load_manifest
from genesys.api.results import CheckReport
from genesys.api.session import SessionOutcome
from genesys.cli.main import app

runner = CliRunner()
EVOLUTION = {
    "apiVersion": "genesys.dev/v1alpha1",
    "kind": "Evolution",
    "metadata": {"name": "demo"},
    "spec": {"seeds": ["gpt2", "mamba2"], "designer": {"maxAttempts": 3, "checkScale": "quick"}},
}


@pytest.fixture
def store(tmp_path: Path, seeds) -> Path:
    root = tmp_path / "store"
    for name in ("gpt2", "mamba2", "rwkv6"):
        path = root / "demo" / "designs" / name / "design.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(dump_manifest(seeds[name]))
    (tmp_path / "evo.yaml").write_text(yaml.safe_dump(EVOLUTION))
    return root


@pytest.fixture
def checker(monkeypatch, gp):
    """Replace the symbolic checker by a fake; set `.verdict` to choose its answer."""
    state = {"verdict": True}
    fake = gp.fake_checker(lambda d: state["verdict"])
    monkeypatch.setattr("genesys.agents.gp.session.check_candidate", fake)
    fake.state = state
    return fake


def _design(store: Path, *args: str):
    evo = store.parent / "evo.yaml"
    return runner.invoke(app, ["design", "--evolution", str(evo), "--store", str(store), *args], terminal_width=200)


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir())


def test_success_writes_design_check_and_session(store, checker):
    out = store / "demo" / "designs" / "gpt2-m1"
    result = _design(store, "--name", "gpt2-m1", "--operation", "mutation", "--parents", "gpt2", "--seed", "4",
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["check.json", "design.yaml", "outcome.json", "session.jsonl"]
    design = load_manifest(out / "design.yaml", Design)
    assert design.name == "gpt2-m1" and design.spec.evolution == "demo" and design.spec.parents == ["gpt2"]
    assert CheckReport.from_json((out / "check.json").read_text()).passed
    outcome = SessionOutcome.from_json((out / "outcome.json").read_text())
    assert (outcome.status, outcome.checked, outcome.spend.checks) == ("succeeded", 1, 1) and outcome.spend.seconds > 0
    lines = [json.loads(line) for line in (out / "session.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["start", "attempt", "outcome"]
    assert lines[1]["passed"] and {"operation", "tried", "fingerprint", "passed", "reason"} <= set(lines[1])
    assert _siblings(out) == ["gpt2", "gpt2-m1", "mamba2", "rwkv6"]  # no temporary directories left behind


def test_crossover_avoids_designs_already_in_the_store(store, checker):
    designs = store / "demo" / "designs"
    first = designs / "x1"
    assert _design(store, "--name", "x1", "--operation", "crossover", "--parents", "gpt2", "--parents", "rwkv6",
                   "--out", str(first)).exit_code == 0
    second = designs / "x2"
    assert _design(store, "--name", "x2", "--operation", "crossover", "--parents", "gpt2", "--parents", "rwkv6",
                   "--out", str(second)).exit_code == 0
    a, b = (load_manifest(d / "design.yaml", Design) for d in (first, second))
    assert fingerprint(a) != fingerprint(b)  # same seed, but x1 was already taken
    log = (second / "session.jsonl").read_text()
    assert "duplicate of x1" in log


def test_no_passing_candidate_writes_a_failed_outcome(store, checker):
    checker.state["verdict"] = False
    out = store / "demo" / "designs" / "s1"
    result = _design(store, "--name", "s1", "--operation", "scratch", "--out", str(out))
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir()) == ["check.json", "outcome.json", "session.jsonl"]
    failed = SessionOutcome.from_json((out / "outcome.json").read_text())
    assert (failed.status, failed.stage, failed.attempts, failed.checked) == ("failed", "check", 3, 3)
    assert "no candidate passed" in failed.reason
    assert len((out / "session.jsonl").read_text().splitlines()) == 5  # start, 3 attempts, outcome


def test_a_rerun_replaces_the_result_and_keeps_the_transcript(store, checker):
    out = store / "demo" / "designs" / "again"
    assert _design(store, "--name", "again", "--operation", "scratch", "--out", str(out)).exit_code == 0
    first = (out / "design.yaml").read_text()
    assert _design(store, "--name", "again", "--operation", "scratch", "--out", str(out)).exit_code == 0
    assert (out / "design.yaml").read_text() == first  # its own old result is not an obstacle
    checker.state["verdict"] = False
    assert _design(store, "--name", "again", "--operation", "scratch", "--seed", "9", "--out", str(out)).exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["check.json", "outcome.json", "session.jsonl"]
    assert [n for n in _siblings(out) if n.startswith(".")] == [] and not list(out.glob(".*"))
    starts = [json.loads(line) for line in (out / "session.jsonl").read_text().splitlines()]
    assert sum(line["event"] == "start" for line in starts) == 3


@pytest.mark.parametrize("args,message", [
    (["--operation", "mutation", "--parents", "gpt3"], "parent 'gpt3' not found"),
    (["--operation", "mutation"], "mutation takes exactly 1 parent"),
    (["--operation", "crossover", "--parents", "gpt2"], "crossover takes at least 2 parent"),
    (["--operation", "mutate", "--parents", "gpt2"], "--operation: Input should be 'mutation', 'crossover' or"),
    (["--operation", "scratch", "--name", "Bad_Name"], "--name"),
])
def test_bad_input_exits_2_and_writes_nothing(store, checker, args, message):
    out = store / "demo" / "designs" / "bad"
    if "--name" not in args:
        args = [*args, "--name", "bad"]
    result = _design(store, *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not out.exists() and checker.calls == []


def test_invalid_evolution_file_exits_2(store, checker):
    evo = store.parent / "evo.yaml"
    evo.write_text(yaml.safe_dump({**EVOLUTION, "spec": {"seeds": ["gpt2"], "designer": {"maxAtempts": 2}}}))
    result = _design(store, "--name", "n", "--operation", "scratch", "--out", str(store / "n"))
    assert result.exit_code == 2 and "maxAtempts" in result.output and "unknown field" in result.output
