"""The Evolution manifest: defaults from the paper, ladder validation, clear errors."""

from __future__ import annotations

import pytest
import yaml

from genesys.api import Evolution, ManifestError, dump_manifest, loads_manifest

MINIMAL = """
apiVersion: genesys.dev/v1alpha1
kind: Evolution
metadata: {name: demo}
spec:
  seeds: [gpt2, mamba2]
"""

PAPER = """
apiVersion: genesys.dev/v1alpha1
kind: Evolution
metadata: {name: paper}
spec:
  seeds: [gpt2]
  ladder:
    preset: paper
    rungs:
      - {name: paper-14m, runs: 100, deviceHours: 12.5}
      - {name: paper-70m}
    gradualRelease: false
  selection: {operations: {mutation: 1, crossover: 0, scratch: 0}, confidentRungs: 3}
  parallelism: {designSessions: 4, verifications: 8}
  stop: {maxDesigns: 50, maxWallHours: 24}
"""


def test_defaults_follow_the_paper_and_the_cpu_preset():
    spec = loads_manifest(MINIMAL, Evolution).spec
    assert spec.ladder.rung_names() == ["cpu-1", "cpu-2", "cpu-3"]
    assert (spec.ladder.selection_ratio, spec.ladder.top_runs, spec.ladder.gradual_release) == (0.25, 1, True)
    assert spec.designer.kind == "gp"
    assert (spec.selection.warmup_designs, spec.selection.good_quantile, spec.selection.confident_rungs) == (5, 0.5, 2)
    assert spec.selection.operations.mutation == 0.75
    assert (spec.parallelism.design_sessions, spec.parallelism.verifications) == (1, 1)
    assert spec.stop.max_designs is None and spec.seed == 0


def test_explicit_rungs_of_a_preset_and_aliases():
    evo = loads_manifest(PAPER, Evolution)
    ladder = evo.spec.ladder
    assert ladder.rung_names() == ["paper-14m", "paper-70m"]
    assert ladder.rung("paper-14m").runs == 100 and ladder.rung("paper-14m").device_hours == 12.5
    assert ladder.rung("paper-70m").runs is None
    assert not ladder.gradual_release
    assert evo.spec.stop.max_wall_hours == 24
    assert loads_manifest(dump_manifest(evo), Evolution) == evo


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda m: m["spec"].update(ladder={"preset": "cpu", "rungs": [{"name": "cpu-9"}]}),
            "rungs ['cpu-9'] are not in the 'cpu' ladder (cpu-1, cpu-2, cpu-3)",
        ),
        (lambda m: m["spec"].update(ladder={"preset": None}), "ladder needs a preset"),
        (lambda m: m["spec"].update(ladder={"preset": "gpu"}), "spec.ladder.preset"),
        (lambda m: m["spec"].update(seedz=["gpt2"]), "spec.seedz: unknown field: remove it or fix its spelling"),
        (lambda m: m["spec"].update(selection={"goodQuantil": 0.3}), "spec.selection.goodQuantil: unknown field"),
        (lambda m: m["spec"].pop("seeds"), "spec.seeds: required field is missing"),
        (lambda m: m["spec"].update(stop={"maxDesigns": -1}), "spec.stop.maxDesigns"),
        (lambda m: m["spec"].update(ladder={"seedRepeats": 0}), "spec.ladder.seedRepeats"),
        (lambda m: m["spec"].update(selection={"confidenceZ": 0}), "spec.selection.confidenceZ"),
        (lambda m: m["spec"].update(selection={"operations": {"mutation": 0, "crossover": 0, "scratch": 0}}),
         "at least one of mutation, crossover, scratch"),
    ],
)
def test_bad_manifests_name_the_field_and_the_fix(edit, expected):
    data = yaml.safe_load(MINIMAL)
    edit(data)
    with pytest.raises(ManifestError) as err:
        loads_manifest(yaml.safe_dump(data), Evolution, "evo.yaml")
    assert str(err.value).startswith("evo.yaml: not a valid Evolution manifest")
    assert expected in str(err.value)


@pytest.mark.parametrize("name", ["evolution-local.yaml", "evolution-quick.yaml"])
def test_example_evolutions_are_valid(name):
    from pathlib import Path

    from genesys.api import load_manifest

    evolution = load_manifest(Path(__file__).resolve().parents[2] / "examples" / name, Evolution)
    assert evolution.spec.designer.kind == "gp" and evolution.spec.ladder.rung_names()[0] == "cpu-1"


def test_noise_options_default_to_todays_runs_and_read_camel_case():
    data = yaml.safe_load(MINIMAL)
    spec = loads_manifest(yaml.safe_dump(data), Evolution).spec
    assert (spec.ladder.seed_repeats, spec.selection.confidence_z) == (1, 2.0)
    data["spec"].update(ladder={"preset": "cpu", "seedRepeats": 3}, selection={"confidenceZ": 1.5})
    spec = loads_manifest(yaml.safe_dump(data), Evolution).spec
    assert (spec.ladder.seed_repeats, spec.selection.confidence_z) == (3, 1.5)


def test_status_reads_camel_case_and_defaults_to_nothing_spent():
    data = yaml.safe_load(MINIMAL)
    assert loads_manifest(yaml.safe_dump(data), Evolution).status is None  # a user's manifest has none
    data["status"] = {"phase": "Completed", "designsByPhase": {"Verified": 2}, "bestDesign": "design-0001",
                      "spend": {"deviceHours": 0.5}, "startTime": "2025-01-01T00:00:00Z",
                      "completedReason": "maxDesigns reached", "conditions": [{"type": "Ready", "status": "True"}]}
    status = loads_manifest(yaml.safe_dump(data), Evolution).status
    assert status is not None and status.phase == "Completed" and status.designs_by_phase == {"Verified": 2}
    assert (status.spend.device_hours, status.spend.usd, status.verified) == (0.5, 0.0, 0)
    assert status.start_time is not None and status.start_time.year == 2025
    assert status.conditions[0].type == "Ready"
    data["status"]["spend"] = {"deviceSeconds": 1800}
    with pytest.raises(ManifestError, match="status.spend.deviceSeconds: unknown field"):
        loads_manifest(yaml.safe_dump(data), Evolution)
