"""Unit code may use einops, and Genesys semantics relaxes the child-call rule (the format check and the sandbox)."""

from __future__ import annotations

from genesys.gau import seed_design
from genesys.gau.checker import check_design, check_format, quick_config

REARRANGED_MLP = '''
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class GatedMLP(GAUBase):
    """A SwiGLU MLP whose gate and value halves are split by einops."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.up = nn.Linear(embed_dim, 4 * embed_dim, bias=False, **self.factory_kwargs)
        self.down = nn.Linear(2 * embed_dim, embed_dim, bias=False, **self.factory_kwargs)

    def _forward(self, X, **Z):
        gate, value = rearrange(self.up(X), "b l (two h) -> two b l h", two=2)
        return self.down(F.silu(gate) * value)


CHILDREN_DECLARATIONS = []
'''


def with_mlp(code: str):
    design = seed_design("gpt2")
    tree = design.spec.tree.model_copy(deep=True)
    tree.units["GatedMLP"].code = code
    tree.units["GatedMLP"].args = {}
    return design.model_copy(update={"spec": design.spec.model_copy(update={"tree": tree})})


def test_a_unit_using_einops_passes_the_format_check_and_runs_in_the_sandbox():
    design = with_mlp(REARRANGED_MLP)
    assert check_format(design).status == "pass"
    report = check_design(design, quick_config(time_ratio=(1.5, 10.0), abort_time_ratio=20.0))
    assert report.passed, [(c.name, c.message) for c in report.checks if c.status == "fail"]
    assert report.check("sandbox").status == "pass"


def test_einops_submodules_stay_out():
    result = check_format(with_mlp(REARRANGED_MLP.replace("from einops import rearrange",
                                                          "from einops.layers.torch import Rearrange")))
    assert result.status == "fail" and "einops.layers.torch" in result.message


def test_a_child_called_without_z_fails_by_default_and_warns_under_genesys_semantics():
    design = seed_design("gpt2")
    tree = design.spec.tree.model_copy(deep=True)
    tree.units["GPT2Block"].code = tree.units["GPT2Block"].code.replace(
        "M, Z = self.mlp(H, **Z)", "M, _ = self.mlp(H)")
    default = design.model_copy(update={"spec": design.spec.model_copy(update={"tree": tree})})
    genesys = design.model_copy(update={"spec": design.spec.model_copy(update={"tree": tree, "semantics": "genesys"})})
    assert check_format(default).status == "fail" and "call the child GatedMLP" in check_format(default).message
    result = check_format(genesys)
    assert result.status == "warn" and "called without **Z" in result.message


def test_a_helper_module_fails_by_default_and_warns_under_genesys_semantics():
    helper = "\n\nclass Scale(nn.Module):\n    def forward(self, x):\n        return x * 0.5\n"
    design = with_mlp(REARRANGED_MLP + helper)
    genesys = design.model_copy(update={"spec": design.spec.model_copy(update={"semantics": "genesys"})})
    assert check_format(design).status == "fail" and "class Scale subclasses nn.Module" in check_format(design).message
    result = check_format(genesys)
    assert result.status == "warn" and "class Scale is a helper nn.Module" in result.message
