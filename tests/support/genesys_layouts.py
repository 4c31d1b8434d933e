"""Small designs written for these tests in the two layouts of the Genesys paper's code (not Genesys's own).

Each unit exercises a rewrite the importer must make: the model_discovery import, a `__call__`
override, a first parameter not named X, `self.__class__`, a helper defined in another unit,
a replaced child the parent still names by its old name, transformers' logging and ACT2FN, an
optional kernel behind try/except, a missing CHILDREN_DECLARATIONS, and @gau_test functions.
"""

from __future__ import annotations

import json
from pathlib import Path

IMPORT = "from model_discovery.model.utils.modules import GAUBase, gau_test, UnitDecl # DO NOT CHANGE THIS IMPORT #"

BLOCK = f'''# GAU_IMPLEMENTATION_FILE   # keep this line first
import torch
import torch.nn as nn

{IMPORT}


class Block(GAUBase):
    def __init__(self, embed_dim: int, block_loc: tuple, kwarg_all: dict, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {{"device": device, "dtype": dtype}}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.norm = Norm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, **self.factory_kwargs,
                         **kwarg_all)
        self.mix = OldMixer(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, **self.factory_kwargs,
                            **kwarg_all)
        self.kind = self.__class__.__name__

    def _forward(self, hidden, **Z):
        H, Z = self.norm(hidden, **Z)
        M, Z = self.mix(H, **Z)
        return hidden + M * half(), Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="Norm", requirements="normalisation"),
    UnitDecl(unitname="OldMixer", requirements="causal mixer"),
]
'''

MIXER = f'''import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers.utils import logging
from transformers.activations import ACT2FN
{IMPORT}

try:
    from causal_conv1d import causal_conv1d_fn
except ImportError:
    causal_conv1d_fn = None

logger = logging.get_logger(__name__)


class Mixer(GAUBase):
    def __init__(self, embed_dim: int, block_loc: tuple, kwarg_all: dict, device=None, dtype=None, kernel=3,
                 **kwargs):
        self.factory_kwargs = {{"device": device, "dtype": dtype}}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.kernel = kernel
        self.conv = nn.Conv1d(embed_dim, embed_dim, kernel, groups=embed_dim, padding=kernel - 1,
                              **self.factory_kwargs)
        self.act = ACT2FN["silu"]

    def __call__(self, X, **Z):
        if causal_conv1d_fn is None:
            logger.warning_once("causal_conv1d is not installed: using the torch path")
        Y = self.conv(X.transpose(1, 2))[..., :X.shape[1]].transpose(1, 2)
        return self.act(Y)
'''

NORM = f'''import torch
import torch.nn as nn
{IMPORT}


def half():
    return 0.5


class Norm(GAUBase):
    def __init__(self, embed_dim: int, block_loc: tuple, kwarg_all: dict, device=None, dtype=None, eps=1e-5,
                 **kwargs):
        self.factory_kwargs = {{"device": device, "dtype": dtype}}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(embed_dim, **self.factory_kwargs))

    def _forward(self, X, **Z):
        return X * torch.rsqrt(X.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight
'''

TEST_NORM = '''@gau_test
def test_norm(device=None, dtype=None):
    norm = Norm(16, (0, 1), {}, device=device, dtype=dtype)
    y, _ = norm(torch.randn(2, 5, 16))
    assert y.shape == (2, 5, 16)
'''


def implementation_json(folder: Path, name: str = "toyblock", extra_units: dict | None = None,
                        root: str = "Block") -> Path:
    """A Genesys bench_data-style design: <folder>/implementation.json, metadata.json, verifications/14M.json."""
    units = {
        "Block": {"code": BLOCK, "children": ["Norm", "Mixer"], "args": {}, "gautests": {}},
        "Mixer": {"code": MIXER, "children": [], "args": {"kernel": 3}, "gautests": {}},
        "Norm": {"code": NORM, "children": [], "args": {}, "gautests": {"test_norm": TEST_NORM}},
        **(extra_units or {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "implementation.json"
    path.write_text(json.dumps({"status": "implemented", "implementation": {
        "name": name, "root": root, "proposal": "A toy block.\nIt mixes with a short convolution.", "rating": 4.2,
        "units": units}}))
    (folder / "metadata.json").write_text(json.dumps({"seed_ids": ["gpt2"]}))
    (folder / "verifications").mkdir(exist_ok=True)
    (folder / "verifications" / "14M.json").write_text(json.dumps({"scale": "14M", "verification_report": {
        "eval_results.json": {"results": {"a": {"acc,none": 0.25}, "b": {"acc,none": 0.75}, "c": {"x": 1}}}}}))
    return path


def seed_units(folder: Path) -> Path:
    """A Genesys core/<seed>/units folder: metadata.yaml and one source per unit, tests inline."""
    units = folder / "toyseed" / "units"
    (units / "src").mkdir(parents=True)
    (units / "metadata.yaml").write_text("name: ToySeed\nroot: Block\nproposal: >\n  A toy seed.\n")
    block = BLOCK.replace('UnitDecl(unitname="OldMixer"', 'UnitDecl(unitname="Mixer"').replace("OldMixer(", "Mixer(")
    (units / "src" / "block.py").write_text(block)
    (units / "src" / "mixer.py").write_text(MIXER + '\n\nCHILDREN_DECLARATIONS = []\n')
    (units / "src" / "norm.py").write_text(NORM + "\n\n" + TEST_NORM + '\n\nCHILDREN_DECLARATIONS = []\n')
    return units
