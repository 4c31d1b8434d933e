import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class RMSNorm(GAUBase):
    """Root-mean-square normalization with a learned per-channel gain.

    Y = X / sqrt(mean(X^2) + eps) * weight. Cheaper than LayerNorm (no mean, no
    bias) and the usual pre-norm of modern LMs (Zhang & Sennrich, 2019).
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, eps: float = 1e-5, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(embed_dim, **self.factory_kwargs))

    def _forward(self, X, **Z):
        return F.rms_norm(X, (self.embed_dim,), self.weight, self.eps)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "norm", "search_space": {"eps": [1e-6, 1e-5]}}
