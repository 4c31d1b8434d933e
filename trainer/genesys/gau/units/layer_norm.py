import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class LayerNorm(GAUBase):
    """Layer normalization with a learned per-channel gain and bias (Ba et al. 2016).

    Y = (X - mean(X)) / sqrt(var(X) + eps) * weight + bias, statistics over the
    channel dimension of each token, so it is causal by construction. The norm of
    the original Transformer and GPT-2; costs O(L * D).
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, eps: float = 1e-5, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(embed_dim, **self.factory_kwargs))
        self.bias = nn.Parameter(torch.zeros(embed_dim, **self.factory_kwargs))

    def _forward(self, X, **Z):
        return F.layer_norm(X, (self.embed_dim,), self.weight, self.bias, self.eps)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "norm", "search_space": {"eps": [1e-6, 1e-5]}}
