"""Tree -> block -> LM: shapes, tied head, init, Z flowing through units and layers."""

from __future__ import annotations

import math

import pytest
import torch

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau import GAUBase, UnitContractError, build_lm, compile_unit, load_design

COUNTER = '''
from genesys.gau import GAUBase


class Counter(GAUBase):
    """Counts the layers it passed through in Z and records its block_loc."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)

    def _forward(self, X, depth=0, **Z):
        seen = Z.get("seen", []) + [self.block_loc]
        return X, {"depth": depth + 1, "seen": seen}
'''


def single_unit_design(name: str, code: str) -> Design:
    tree = DesignTree(root=name, units={name: UnitSpec(code=code)})
    return Design(metadata=ObjectMeta(name="t"), spec=DesignSpec(tree=tree))


def test_lm_shapes_and_tied_head():
    lm = build_lm(load_design("gpt2"), vocab_size=97, d_model=64, n_block=3)
    ids = torch.randint(0, 97, (2, 11))
    assert lm(ids).shape == (2, 11, 97)
    assert lm.lm_head.weight is lm.embedding.weight
    assert [b.block_loc for b in lm.blocks] == [(0, 3), (1, 3), (2, 3)]


def test_z_flows_across_units_and_layers_and_star_z_receives_everything():
    cls = compile_unit("Counter", COUNTER)
    unit = cls(embed_dim=4, block_loc=(0, 1), kwarg_all={})
    _, Z = unit(torch.zeros(1, 2, 4), depth=3, seen=[], other=1)
    assert Z["depth"] == 4 and Z["other"] == 1  # **Z received `seen`; `other` passes through
    assert Z["seen"] == [(0, 1)]

    lm = build_lm(single_unit_design("Counter", COUNTER), vocab_size=10, d_model=8, n_block=4)
    seen = []
    lm.blocks[-1].register_forward_hook(lambda m, args, out: seen.append(out[1]))
    lm(torch.zeros(1, 3, dtype=torch.long))
    assert seen[0]["depth"] == 4
    assert seen[0]["seen"] == [(i, 4) for i in range(4)]
    logits, Z = lm(torch.zeros(1, 3, dtype=torch.long), return_z=True)
    assert logits.shape == (1, 3, 10) and Z["depth"] == 4


def test_gpt2_init_scales_residual_projections():
    torch.manual_seed(0)
    lm = build_lm(load_design("gpt2"), vocab_size=512, d_model=256, n_block=8)
    out_std = lm.blocks[0].attn.out_proj.weight.std().item()
    qkv_std = lm.blocks[0].attn.qkv_proj.weight.std().item()
    assert math.isclose(qkv_std, 0.02, rel_tol=0.05)
    assert math.isclose(out_std, 0.02 / math.sqrt(16), rel_tol=0.05)
    assert math.isclose(lm.embedding.weight.std().item(), 0.02, rel_tol=0.05)


def test_unit_returning_wrong_shape_is_reported_by_name():
    code = COUNTER.replace("return X, {", "return X[:, :-1], {")
    lm = build_lm(single_unit_design("Counter", code), vocab_size=10, d_model=8, n_block=1)
    with pytest.raises(UnitContractError, match=r"unit Counter: output Y must have the input's shape \(1, 3, 8\)"):
        lm(torch.zeros(1, 3, dtype=torch.long))


def test_overriding_forward_is_refused():
    with pytest.raises(Exception, match="overrides forward"):
        type("Bad", (GAUBase,), {"forward": lambda self, X: X})


def test_builds_on_meta_device_without_memory():
    with torch.device("meta"):
        lm = build_lm(load_design("gpt2"), vocab_size=50_000, d_model=1024, n_block=24)
    assert next(lm.parameters()).device.type == "meta"


def test_device_and_dtype_reach_every_module_not_kwarg_all():
    from genesys.gau import build_block

    lm = build_lm(load_design("gpt2"), vocab_size=50, d_model=64, n_block=2, dtype=torch.float64)
    assert {p.dtype for p in lm.parameters()} == {torch.float64}
    assert lm.blocks[0].kwarg_all == {}
    block = build_block(load_design("gpt2"), 64, dtype=torch.float64)
    assert {p.dtype for p in block.parameters()} == {torch.float64}
    assert lm(torch.zeros(1, 4, dtype=torch.long)).dtype == torch.float64
