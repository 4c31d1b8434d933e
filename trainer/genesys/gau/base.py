"""The unit contract: `GAUBase` (a generalized autoregressive unit) and `UnitDecl`.

A unit maps `X (B, L, D)` to `Y (B, L, D)` causally, reading side inputs from the
dict `Z` and returning updates to it. Compatible with the Genesys contract
(arXiv 2506.20249, section 3) so its designs and prompts carry over.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

# Linear layers stored under one of these attribute names write into the residual
# stream; the LM initializes them with std 0.02 / sqrt(2 * n_block) (GPT-2, section 2.3).
RESIDUAL_PROJECTION_NAMES = ("out_proj", "o_proj", "down_proj", "c_proj")


class UnitContractError(RuntimeError):
    """A unit broke the contract at run time (wrong output shape, bad return value)."""


@dataclass(frozen=True)
class UnitDecl:
    """Declares a child unit: what the parent needs from it, before it exists."""

    unitname: str
    requirements: str = ""
    inputs: list[str] = field(default_factory=lambda: ["X"])
    outputs: list[str] = field(default_factory=lambda: ["Y"])


class GAUBase(nn.Module):
    """Base class of every unit.

    Subclasses implement `_forward(self, X, **Z)` and never override `forward`.
    `_forward` declares the side inputs it reads as keyword parameters; a `**Z`
    parameter receives all of Z (Genesys dropped it: fixed here). It returns `Y`
    or `(Y, Z_)`; `Z_` entries are merged into Z for the caller.

    Weight init: the LM applies GPT-2 init to every nn.Linear/nn.Embedding, then
    calls `_init_weights()` of each unit, so custom init of Linear layers goes there.
    Linear layers named as in RESIDUAL_PROJECTION_NAMES get the scaled residual init.

    A design with `semantics: genesys` runs its units as the Genesys code does (see
    `set_semantics`): `_forward` receives only the Z entries named by its parameters,
    so `**Z` alone receives nothing.
    """

    # Names of Z entries `_forward` accepts; None means all (it has **kwargs).
    _z_names: ClassVar[frozenset[str] | None] = None
    # The same under Genesys semantics: every parameter name after X, `**Z`'s own name included.
    _signature_names: ClassVar[frozenset[str]] = frozenset()
    # Set on built units by `set_semantics`; False is genesys-lm semantics.
    _genesys_semantics: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            raise UnitContractError(
                f"unit {cls.__name__} overrides forward(); implement _forward(self, X, **Z) instead"
            )
        params = list(inspect.signature(cls._forward).parameters.values())[2:]  # self, X
        cls._signature_names = frozenset(p.name for p in params)
        if any(p.kind is p.VAR_KEYWORD for p in params):
            cls._z_names = None
        else:
            cls._z_names = frozenset(
                p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            )

    def __init__(self, embed_dim: int, block_loc: tuple[int, int], kwarg_all: dict[str, Any]):
        super().__init__()
        self.embed_dim = embed_dim
        self.block_loc = block_loc  # (layer index, number of blocks)
        self.kwarg_all = kwarg_all  # every hyper-parameter of the tree, passed to children

    def _forward(self, X: torch.Tensor, **Z: Any) -> torch.Tensor | tuple[torch.Tensor, dict]:
        raise UnitContractError(f"unit {type(self).__name__} does not implement _forward")

    def _init_weights(self) -> None:
        """Hook for custom initialization, called after the LM's GPT-2 init."""

    def forward(self, X: torch.Tensor, **Z: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        names = self._signature_names if self._genesys_semantics else self._z_names
        out = self._forward(X, **(Z if names is None else {k: v for k, v in Z.items() if k in names}))
        if isinstance(out, tuple):
            if len(out) != 2 or not isinstance(out[1], dict):
                raise UnitContractError(
                    f"unit {type(self).__name__}: _forward must return Y or (Y, dict), "
                    f"got a tuple of {len(out)}"
                )
            Y, Z_ = out
            Z = {**Z, **Z_}
        else:
            Y = out
        if not isinstance(Y, torch.Tensor) or Y.shape != X.shape:
            got = tuple(Y.shape) if isinstance(Y, torch.Tensor) else type(Y).__name__
            raise UnitContractError(
                f"unit {type(self).__name__}: output Y must have the input's shape "
                f"{tuple(X.shape)}, got {got}"
            )
        return Y, Z


def set_semantics(module: nn.Module, semantics: str) -> None:
    """Make every unit in `module` run with a design's semantics ("genesys-lm" or "genesys").

    Under "genesys", as in the Genesys code, `_forward` receives the Z entries whose
    names are among its parameter names, so a `_forward(self, X, **Z)` receives none
    (but an entry named "Z" would land in it).
    """
    if semantics not in ("genesys-lm", "genesys"):
        raise ValueError(f"unknown semantics {semantics!r}: use 'genesys-lm' or 'genesys'")
    for unit in module.modules():
        if isinstance(unit, GAUBase):
            unit._genesys_semantics = semantics == "genesys"


def identity_unit(name: str) -> type[GAUBase]:
    """A placeholder for a declared child that has no code yet: Y = X, no parameters."""

    def _forward(self: GAUBase, X: torch.Tensor, **Z: Any) -> torch.Tensor:
        return X

    def __init__(self: GAUBase, embed_dim: int, block_loc: tuple[int, int], kwarg_all: dict, **_: Any):
        GAUBase.__init__(self, embed_dim, block_loc, kwarg_all)

    doc = f"Placeholder for the unimplemented unit {name}: returns X unchanged."
    return type(name, (GAUBase,), {"__init__": __init__, "_forward": _forward, "__doc__": doc})
