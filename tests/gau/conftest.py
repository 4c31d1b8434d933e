"""Shared probes for unit and seed tests: a standalone unit, a harness LM, a tiny task."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau import compile_design, get_unit
from genesys.gau.seeds import tree_from_library

# Wraps a non-block unit as X + unit(RMSNorm(X)) so it can be trained inside an LM.
HARNESS = '''
import torch
from genesys.gau import GAUBase, UnitDecl


class HarnessBlock(GAUBase):
    """Pre-norm residual wrapper around one unit under test."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.norm = torch.nn.RMSNorm(embed_dim, device=device, dtype=dtype)
        self.unit = {unit}(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                           device=device, dtype=dtype, **kwarg_all)

    def _forward(self, X, **Z):
        Y, Z = self.unit(self.norm(X), **Z)
        return X + Y, Z


CHILDREN_DECLARATIONS = [UnitDecl(unitname="{unit}")]
'''


def unit_design(unit: str) -> Design:
    """A design whose block is `unit` itself (a block unit) or the harness around it."""
    tree = tree_from_library(unit)
    if get_unit(unit).role != "block":
        units = {"HarnessBlock": UnitSpec(children=[unit], code=HARNESS.replace("{unit}", unit)), **tree.units}
        tree = DesignTree(root="HarnessBlock", units=units)
    return Design(metadata=ObjectMeta(name=f"probe-{unit.lower()}"), spec=DesignSpec(tree=tree))


def build_unit(unit: str, d_model: int = 64, **kwarg_all):
    classes = compile_design(Design(metadata=ObjectMeta(name="probe"), spec=DesignSpec(tree=tree_from_library(unit))))
    return classes[unit](embed_dim=d_model, block_loc=(0, 2), kwarg_all=kwarg_all, **kwarg_all)


def markov_batch(gen: torch.Generator, batch: int, seq_len: int, vocab: int, branching: int = 4) -> torch.Tensor:
    """Walks on a fixed random graph where each token has `branching` successors.

    Uniform tokens cost ln(vocab) nats; a model that learns the graph gets to
    ln(branching), so a falling loss is a real signal in a few dozen steps.
    """
    succ = torch.randint(0, vocab, (vocab, branching), generator=torch.Generator().manual_seed(1234))
    ids = torch.empty(batch, seq_len, dtype=torch.long)
    ids[:, 0] = torch.randint(0, vocab, (batch,), generator=gen)
    choice = torch.randint(0, branching, (batch, seq_len), generator=gen)
    for t in range(1, seq_len):
        ids[:, t] = succ[ids[:, t - 1], choice[:, t]]
    return ids


def train_steps(model: torch.nn.Module, steps: int, vocab: int, seq_len: int = 64, batch: int = 8, lr: float = 3e-3):
    """Train on Markov walks; return (first loss, mean of the last 5 losses)."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        ids = markov_batch(gen, batch, seq_len + 1, vocab)
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses[0], sum(losses[-5:]) / 5


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def probe() -> SimpleNamespace:
    """The helpers above, for tests (conftest modules are not importable by name)."""
    return SimpleNamespace(unit_design=unit_design, build_unit=build_unit, train_steps=train_steps,
                           markov_batch=markov_batch)
