"""check_design end to end: seeds pass, the report's JSON shape, rendering, and it never raises."""

from __future__ import annotations

import json
import sys

import pytest
from rich.console import Console

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau import library, load_design, seed_names
from genesys.gau.checker import CHECK_NAMES, CheckConfig, check_design, quick_config, render_report
from genesys.gau.seeds import tree_from_library

CHECK_KEYS = {"name", "status", "message", "seconds", "details"}


def assert_report_shape(data: dict) -> None:
    assert set(data) == {"passed", "design", "checks", "params", "complexity_exponent", "seconds"}
    assert [c["name"] for c in data["checks"]] == list(CHECK_NAMES)
    for check in data["checks"]:
        assert CHECK_KEYS <= set(check) <= CHECK_KEYS | {"unit", "line"}
        assert check["status"] in ("pass", "fail", "warn", "skipped")
        assert isinstance(check["message"], str) and check["message"]
    assert data["passed"] == all(c["status"] != "fail" for c in data["checks"])
    json.loads(json.dumps(data, allow_nan=False))


def test_gpt2_seed_passes_every_check():
    report = check_design(load_design("gpt2"))
    data = report.to_dict()
    assert_report_shape(data)
    assert report.passed, report.summary()
    # Time ratios of a shared machine can be noisy: warnings there are tolerated, failures are not.
    timed = {"efficiency", "complexity"}
    assert all(c["status"] == "pass" or c["name"] in timed for c in data["checks"]), report.summary()
    assert data["design"] == "gpt2"
    assert data["params"]["d_model"] == 64 and data["params"]["non_embedding"] > 0
    assert isinstance(data["complexity_exponent"], float)
    efficiency = report.check("efficiency").details
    assert efficiency["n_block"] == efficiency["reference_n_block"]  # same design, same size
    assert efficiency["ratios"]["flops"] == pytest.approx(1.0, rel=1e-6)
    assert efficiency["ratios"]["memory"] == pytest.approx(1.0, rel=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [s for s in seed_names() if s != "gpt2"])
def test_other_seeds_pass(seed):
    report = check_design(load_design(seed))
    assert report.passed, report.summary()


# Where a library unit goes in the gpt2 block to be checked as part of a design: (parent, unit it replaces).
SLOTS = {"token_mixer": ("GPT2Block", "MultiHeadAttention"), "conv": ("GPT2Block", "MultiHeadAttention"),
         "component": ("GPT2Block", "MultiHeadAttention"), "channel_mixer": ("GPT2Block", "GatedMLP"),
         "norm": ("GPT2Block", "RMSNorm"), "position": ("MultiHeadAttention", "RotaryEmbedding")}


def in_gpt2_block(unit: str) -> Design:
    """The gpt2 seed with `unit` in the slot of its role (a block unit stands alone)."""
    if library()[unit].role == "block":
        tree = tree_from_library(unit)
    else:
        parent, old = SLOTS[library()[unit].role]
        units = dict(tree_from_library("GPT2Block").units)
        spec = units[parent]
        units[parent] = UnitSpec(children=[unit if c == old else c for c in spec.children],
                                 code=spec.code.replace(old, unit))
        units.update(tree_from_library(unit).units)
        tree = DesignTree(root="GPT2Block", units=units)
        tree = DesignTree(root="GPT2Block", units={n: units[n] for n in tree.reachable() if n in units})
    return Design(metadata=ObjectMeta(name=f"library-{unit.lower()}"), spec=DesignSpec(tree=tree))


@pytest.mark.slow
@pytest.mark.parametrize("unit", sorted(library()))
def test_library_units_pass_inside_a_design(unit):
    report = check_design(in_gpt2_block(unit))
    assert report.passed, report.summary()
    assert report.check("format").status == "pass", report.check("format").message


def test_render_report():
    report = check_design(load_design("gpt2"), quick_config(only=("init",)))
    console = Console(record=True, width=120)
    console.print(render_report(report))
    text = console.export_text()
    assert "PASSED" in text and all(name in text for name in CHECK_NAMES)
    failed = check_design(_design("import os\n"), quick_config())
    console = Console(record=True, width=200)
    console.print(render_report(failed))
    text = console.export_text()
    assert "FAILED" in text and "[unit Block, line 1]" in text  # printed verbatim, not read as markup


def _design(code: str) -> Design:
    tree = DesignTree(root="Block", units={"Block": UnitSpec(code=code)})
    return Design(metadata=ObjectMeta(name="garbage"), spec=DesignSpec(tree=tree))


def test_garbage_code_gives_a_report():
    report = check_design(_design("\x00 def class ((("))
    assert_report_shape(report.to_dict())
    assert report.check("format").status == "fail" and not report.passed


SYSTEM_EXIT = '''
import torch
from genesys.gau import GAUBase, UnitDecl


class Block(GAUBase):
    """Exits the interpreter when built."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        raise SystemExit(0)

    def _forward(self, X, **Z):
        return X


CHILDREN_DECLARATIONS = []
'''


def test_system_exit_in_unit_code_is_a_failure_not_a_crash():
    report = check_design(_design(SYSTEM_EXIT), quick_config())
    init = report.check("init")
    assert init.status == "fail" and "SystemExit" in init.message and init.unit == "Block"
    assert report.check("sandbox").status == "pass"  # the worker survived and finished
    assert report.check("forward").status == "skipped"


def test_checker_returns_a_report_when_the_child_cannot_start(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    report = check_design(load_design("gpt2"), quick_config())
    assert not report.passed
    assert "could not run" in report.check("sandbox").message
    assert report.check("init").status == "skipped"


def test_config_rejects_unknown_checks():
    with pytest.raises(ValueError, match="unknown checks"):
        CheckConfig(only=("causalty",))
    assert CheckConfig.from_dict(quick_config().to_dict()) == quick_config()
