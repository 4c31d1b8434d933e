import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class SquaredReLUMLP(GAUBase):
    """Position-wise MLP with a squared-ReLU activation: down(relu(up(X))^2).

    The activation found by the Primer architecture search (So et al. 2021, "Primer:
    Searching for Efficient Transformers for Language Modeling"): cheaper than a
    gated unit (two matrices instead of three) and as good as GeGLU/SwiGLU there.
    The hidden width is `hidden_mult * embed_dim` rounded up to a multiple of 32; the
    default 4 has the parameters of GatedMLP's default (8 * D^2). Cost O(B L D H).
    Reads/writes no Z keys. For SwiGLU / GeGLU use GatedMLP (its `activation`).
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 hidden_mult: float = 4.0, bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        hidden = 32 * -(-int(hidden_mult * embed_dim) // 32)
        self.up_proj = nn.Linear(embed_dim, hidden, bias=bias, **self.factory_kwargs)
        self.down_proj = nn.Linear(hidden, embed_dim, bias=bias, **self.factory_kwargs)

    def _forward(self, X, **Z):
        return self.down_proj(F.relu(self.up_proj(X)).square())


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "channel_mixer", "search_space": {"hidden_mult": [2.0, 3.0, 4.0]}}
