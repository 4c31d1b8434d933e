"""The rung catalogue in genesys.api: a ladder is checked against the presets the trainer trains from."""

from __future__ import annotations

from pathlib import Path

import pytest

from genesys.api import Evolution, load_manifest, loads_manifest
from genesys.api.rungs import PresetError, RungConfig, get_rung, ladder_rungs, with_overrides

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _ladder(ladder: str):
    text = f"apiVersion: genesys.dev/v1alpha1\nkind: Evolution\nmetadata: {{name: demo}}\n" \
           f"spec: {{seeds: [gpt2], ladder: {ladder}}}\n"
    return loads_manifest(text, Evolution).spec.ladder


def test_the_trainer_reads_the_same_catalogue():
    from genesys.trainer import presets

    assert presets.RungConfig is RungConfig and presets.get_rung is get_rung


def test_the_local_example_trains_its_rungs_with_their_overrides():
    ladder = load_manifest(EXAMPLES / "evolution-local.yaml", Evolution).spec.ladder
    cpu1, cpu2 = ladder_rungs(ladder)
    assert (cpu1.name, cpu1.tokens, cpu1.eval_limit) == ("cpu-1", 300_000, 200)
    assert (cpu2.name, cpu2.tokens, cpu2.eval_limit) == ("cpu-2", 1_000_000, 200)


def test_a_rung_override_wins_over_the_ladder_and_yaml_numbers_take_the_field_type():
    # YAML reads 5e5 as text and 3.0e+5 as a float; tokens is a count either way
    [rung] = ladder_rungs(
        _ladder("{overrides: {tokens: 5e5, lr: 1}, rungs: [{name: cpu-1, overrides: {tokens: 3.0e+5}}]}"))
    assert rung.tokens == 300_000 and isinstance(rung.tokens, int)
    assert rung.lr == 1.0 and isinstance(rung.lr, float)
    assert with_overrides(get_rung("debug"), {"eval_limit": None}).eval_limit is None


@pytest.mark.parametrize(
    ("ladder", "match"),
    [
        ("{overrides: {tokns: 1}}", r"^spec.ladder \(cpu-1\): rung has no field 'tokns'; did you mean tokens\?"),
        ("{rungs: [{name: cpu-2, overrides: {lr: fast}}]}",
         r"^spec.ladder \(cpu-2\): rung field lr: cannot read 'fast'"),
        ("{rungs: [{name: cpu-1, overrides: {tokens: [1]}}]}",
         r"^spec.ladder \(cpu-1\): rung field tokens: cannot read"),
        ("{preset: null, rungs: [{name: cpu-4}]}", r"^spec.ladder \(cpu-4\): unknown rung 'cpu-4'; did you mean cpu-3"),
    ],
)
def test_a_bad_ladder_names_the_rung_and_the_fix(ladder, match):
    with pytest.raises(PresetError, match=match):
        ladder_rungs(_ladder(ladder))
