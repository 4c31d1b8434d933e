"""genesys.gau: the unit contract, tree -> block -> LM, the unit library and seeds.

    from genesys.gau import load_design, build_lm
    lm = build_lm(load_design("gpt2"), vocab_size=4096, d_model=128, n_block=4)
"""

from __future__ import annotations

from pathlib import Path

from genesys.api import Design, load_manifest
from genesys.gau import determinism  # noqa: F401  (sets MKL's reproducible mode before any matmul)
from genesys.gau.base import GAUBase, UnitContractError, UnitDecl
from genesys.gau.compiler import UnitCompileError, compile_design, compile_unit
from genesys.gau.composition import GAULanguageModel, build_block, build_lm
from genesys.gau.library import UnitInfo, get_unit, library, units_by_role
from genesys.gau.seeds import SeedNotFoundError, seed_design, seed_names
from genesys.gau.sizing import (
    FittedSize,
    ParameterCount,
    SizingError,
    count_parameters,
    design_parameters,
    fit_to_params,
)


def load_design(name_or_path: str | Path) -> Design:
    """A seed by name (`"gpt2"`), or a Design manifest file (`"designs/x.yaml"`)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text or Path(text).exists():
        return load_manifest(text, Design)
    return seed_design(text)


__all__ = [
    "Design",
    "FittedSize",
    "GAUBase",
    "GAULanguageModel",
    "ParameterCount",
    "SeedNotFoundError",
    "SizingError",
    "UnitCompileError",
    "UnitContractError",
    "UnitDecl",
    "UnitInfo",
    "build_block",
    "build_lm",
    "compile_design",
    "compile_unit",
    "count_parameters",
    "design_parameters",
    "fit_to_params",
    "get_unit",
    "library",
    "load_design",
    "seed_design",
    "seed_names",
    "units_by_role",
]
