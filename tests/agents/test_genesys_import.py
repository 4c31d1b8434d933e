"""Importing designs written in the Genesys paper's layouts (our own fixtures, tests/support/genesys_layouts.py)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from genesys.agents.genesys_import import import_designs
from genesys.agents.genesys_import.convert import dns_name
from genesys.agents.genesys_import.rewrite import ImportBlocked, rewrite_unit
from genesys.api import Design, load_manifest
from genesys.cli.main import app
from genesys.gau import build_lm
from genesys.gau.checker import check_format
from genesys_layouts import BLOCK, MIXER, NORM, implementation_json, seed_units


def only(items):
    assert len(items) == 1 and items[0].converted is not None, items[0].blocked
    return items[0].converted


def test_an_implementation_json_imports_with_every_rewrite_reported(tmp_path):
    converted = only(import_designs([implementation_json(tmp_path / "toy")]))
    design, units = converted.design, converted.design.spec.tree.units
    kinds = sorted({n.rewrite for n in converted.notes})
    assert kinds == ["call-override", "children", "declarations", "dependency", "first-parameter", "helper",
                     "import", "type-self"]
    block, mixer, norm = units["Block"].code, units["Mixer"].code, units["Norm"].code
    assert "from genesys.gau import GAUBase, UnitDecl" in block and "model_discovery" not in block + mixer + norm
    assert "GAU_IMPLEMENTATION_FILE" not in block
    assert "def _forward(self, X, **Z):" in block and "return X + M * half(), Z" in block
    assert "self.kind = type(self).__name__" in block
    assert "Mixer(embed_dim" in block and "OldMixer" not in block and 'unitname="Mixer"' in block
    assert "def half():" in block  # the helper Norm's code defined, copied in
    assert "def _forward(self, X, **Z):" in mixer and "__call__" not in mixer
    assert "from transformers" not in mixer and "logger" not in mixer and '"silu": F.silu' in mixer
    assert "causal_conv1d_fn = None" in mixer and "try:" not in mixer
    assert "CHILDREN_DECLARATIONS = []" in norm
    assert any(n.warning and n.rewrite == "call-override" for n in converted.notes)
    # Genesys semantics, with the units' args as the design-level kwargs every block's kwarg_all starts from
    assert design.spec.semantics == "genesys" and design.spec.kwargs == {"kernel": 3}
    assert units["Mixer"].args == {} and design.spec.tree.root == "Block"
    # provenance rides on the manifest
    notes = design.metadata.annotations
    assert notes["genesys.dev/genesys-status"] == "implemented" and notes["genesys.dev/genesys-seeds"] == "gpt2"
    assert json.loads(notes["genesys.dev/genesys-scores"]) == {"14M": 0.5}  # mean accuracy over tasks with one
    assert design.spec.proposal.rating == 4.2 and design.spec.proposal.abstract == "A toy block."
    # the result is a unit tree genesys-lm checks and builds
    assert check_format(design).status != "fail", check_format(design).message
    lm = build_lm(design, vocab_size=32, d_model=16, n_block=2)
    assert lm(torch.randint(0, 32, (2, 9))).shape == (2, 9, 32)


def test_a_seed_units_folder_imports_and_keeps_its_tests(tmp_path):
    converted = only(import_designs([seed_units(tmp_path)]))
    assert converted.design.name == "toyseed" and converted.design.spec.tree.root == "Block"
    assert "gau_test" not in converted.design.spec.tree.units["Norm"].code
    tests = converted.tests["Norm"]
    assert "def test_norm(" in tests and "from genesys.gau import GAUBase, UnitDecl" in tests
    namespace: dict = {}
    exec(compile(converted.design.spec.tree.units["Norm"].code + "\n" + tests, "norm", "exec"), namespace)
    namespace["test_norm"]()  # the kept test runs against the imported unit


def test_identical_trees_import_once_and_names_stay_unique(tmp_path):
    first = implementation_json(tmp_path / "a" / "seeds" / "toy")
    implementation_json(tmp_path / "b" / "refs" / "toy")  # the same tree, stored again under another design
    implementation_json(tmp_path / "c" / "toy", extra_units={"Norm": {"code": NORM.replace("1e-5", "1e-6"),
                                                                      "children": [], "args": {}}})
    items = import_designs([tmp_path])
    assert [i.duplicate_of for i in items] == [None, str(first), None]
    assert [i.converted.design.name for i in items if i.converted] == ["toyblock", "toyblock-2"]
    assert dns_name("HierGPT_2 (v3)", set()) == "hiergpt-2-v3"


@pytest.mark.parametrize(("change", "reason"), [
    ({"Block": {"code": BLOCK, "children": ["Norm", "Mixer", "Ghost"]}}, "has a child Ghost the design does not"),
    ({"Norm": {"code": NORM.replace("def _forward(self, X", "def _forward(self X"), "children": []}},
     "unit Norm, line 18: syntax error"),
    ({"Mixer": {"code": MIXER.replace("    def __call__", "    def _forward(self, X, **Z):\n        return X\n\n"
                                      "    def __call__"), "children": []}}, "defines __call__, _forward"),
])
def test_a_tree_that_cannot_be_imported_gets_one_line(tmp_path, change, reason):
    items = import_designs([implementation_json(tmp_path / "bad", extra_units=change)])
    assert items[0].converted is None and reason in items[0].blocked and "\n" not in items[0].blocked


def test_an_other_model_discovery_import_is_blocked():
    code = BLOCK.replace("import torch\n", "import torch\nfrom model_discovery.model.block_registry import Reg\n", 1)
    with pytest.raises(ImportBlocked, match="imports model_discovery.model.block_registry"):
        rewrite_unit(code, "Block", {"Block": code}, ["Norm", "OldMixer"])


def test_the_cli_writes_manifests_tests_and_a_report(tmp_path):
    implementation_json(tmp_path / "src" / "toy")
    implementation_json(tmp_path / "src" / "bad", name="bad", root="Nope")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["library", "import-genesys", str(tmp_path / "src"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "imported 1 of 2 distinct designs" in " ".join(result.output.split())
    assert "root 'Nope' is not one of its units" in result.output
    assert load_manifest(out / "toyblock.yaml", Design).spec.tree.root == "Block"
    assert (out / "gautests" / "toyblock" / "Norm.py").is_file()
    report = json.loads((out / "import-report.json").read_text())
    assert {e.get("design") for e in report} == {"toyblock", None} and any("blocked" in e for e in report)
    missing = CliRunner().invoke(app, ["library", "import-genesys", str(tmp_path / "nowhere"), "--out", str(out)])
    assert missing.exit_code == 2 and "no such file or directory" in missing.output


def test_torchtune_modules_map_to_torch_and_a_local_rotary_with_the_same_rotation():
    from genesys.agents.genesys_import.dependencies import rewrite_torchtune

    code = ("import torch\nimport torch.nn as nn\nfrom torchtune.modules import RotaryPositionalEmbeddings, RMSNorm\n"
            "\n\nclass Unit:\n    pass\n")
    out, notes = rewrite_torchtune(code, "Unit")
    assert "from torch.nn import RMSNorm" in out and "torchtune" not in out.split("class Rotary")[0]
    assert [n.warning for n in notes] == [True, False]
    namespace: dict = {}
    exec(compile(out, "unit", "exec"), namespace)
    x = torch.randn(2, 5, 3, 8)
    rotated = namespace["RotaryPositionalEmbeddings"](dim=8)(x)
    angles = torch.arange(5).float()[:, None] / 10_000 ** (torch.arange(0, 8, 2).float() / 8)
    pairs = torch.view_as_complex(x.reshape(2, 5, 3, 4, 2))
    expected = torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)[None, :, None, :]).flatten(3)
    assert torch.allclose(rotated, expected, atol=1e-5)
    untouched = "from torchtune.modules import KVCache\n"
    assert rewrite_torchtune(untouched, "Unit") == (untouched, [])
