"""Designs with a planted bug (or none) for the checker's tests: a pre-norm block around a Mixer unit
whose __init__ additions and _forward the test writes.

    design = planted(forward=LEAKY_FORWARD, init="self.scale = nn.Parameter(torch.ones(1))")
    result = run(check_causality, design)
"""

from __future__ import annotations

import textwrap

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau.checker import quick_config
from genesys.gau.checker.probes import Probe, timed
from genesys.gau.seeds import tree_from_library

BLOCK = '''
from genesys.gau import GAUBase, UnitDecl


class TestBlock(GAUBase):
    """Pre-norm block: X + Mixer(RMSNorm(X)), then X + GatedMLP(RMSNorm(X))."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.norm1 = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                             **self.factory_kwargs, **kwarg_all)
        self.mixer = Mixer(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                           **self.factory_kwargs, **kwarg_all)
        self.norm2 = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                             **self.factory_kwargs, **kwarg_all)
        self.mlp = GatedMLP(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                            **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        H, Z = self.norm1(X, **Z)
        A, Z = self.mixer(H, **Z)
        X = X + A
        H, Z = self.norm2(X, **Z)
        M, Z = self.mlp(H, **Z)
        return X + M, Z


CHILDREN_DECLARATIONS = [UnitDecl(unitname="Mixer"), UnitDecl(unitname="RMSNorm"), UnitDecl(unitname="GatedMLP")]
'''

MIXER = '''
import math
import torch
import torch.nn.functional as F
from torch import nn
HEADER
from genesys.gau import GAUBase, UnitDecl


class Mixer(GAUBase):
    """A token mixer planted with a bug (or not) for the checker's tests."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.in_proj = nn.Linear(embed_dim, embed_dim, bias=False, **self.factory_kwargs)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=False, **self.factory_kwargs)
INIT
FORWARD

CHILDREN_DECLARATIONS = []
'''

# A causal running mean: the healthy reference mixer.
CAUSAL = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    n = torch.arange(1, X.shape[1] + 1, dtype=X.dtype).view(1, -1, 1)
    return self.out_proj(torch.cumsum(v, dim=1) / n)
'''

# A leak through the future that a .detach() hides from the gradient probes.
DETACH_LEAK = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    n = torch.arange(1, X.shape[1] + 1, dtype=X.dtype).view(1, -1, 1)
    future = v.flip(1).cumsum(1).flip(1).detach()  # BUG: suffix sums, hidden from gradients
    return self.out_proj(torch.cumsum(v, dim=1) / n + 0.1 * future / n.flip(1))
'''


def mixer(forward: str = CAUSAL, init: str = "", header: str = "") -> str:
    return (MIXER.replace("HEADER", header)
            .replace("INIT", textwrap.indent(textwrap.dedent(init).strip(), " " * 8))
            .replace("FORWARD", textwrap.indent(textwrap.dedent(forward).strip(), " " * 4)))


def planted(forward: str = CAUSAL, init: str = "", header: str = "", name: str = "planted") -> Design:
    units = {**tree_from_library("GatedMLP").units, **tree_from_library("RMSNorm").units}
    units["TestBlock"] = UnitSpec(children=["Mixer", "RMSNorm", "GatedMLP"], code=BLOCK)
    units["Mixer"] = UnitSpec(code=mixer(forward, init, header))
    return Design(metadata=ObjectMeta(name=name), spec=DesignSpec(tree=DesignTree(root="TestBlock", units=units)))


def run(check, design: Design, **config):
    return timed(check.__name__.removeprefix("check_"), check)(Probe(design, quick_config(**config)))
