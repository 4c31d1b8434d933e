import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class ShortConv(GAUBase):
    """Depthwise causal 1-D convolution over the sequence (a "short conv").

    Y[:, t, c] = bias[c] + sum_{j<K} weight[c, j] * X[:, t - (K-1) + j, c], with X taken
    as zero before position 0: the sequence is padded on the left only, so the output
    at t sees positions t-K+1..t and never the future. Optionally followed by SiLU
    (`conv_silu=True`). Residual-free: it returns the convolution itself, the caller
    adds any skip connection. Each channel has its own K taps (groups = D), as the
    local mixing stage of H3, Hyena, Mamba and gated linear attention (Fu et al. 2023,
    "Hungry Hungry Hippos"; Gu & Dao 2023). Cost O(B L D K), parameters D*K (+ D bias).
    Taps are initialized like nn.Conv1d, uniform(+-1/sqrt(K)). Reads/writes no Z keys.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 kernel_size: int = 4, conv_silu: bool = False, conv_bias: bool = True, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        assert kernel_size >= 1, f"kernel_size must be >= 1, got {kernel_size}"
        self.kernel_size = kernel_size
        self.conv_silu = conv_silu
        bound = 1.0 / math.sqrt(kernel_size)
        weight = torch.empty(embed_dim, 1, kernel_size, **self.factory_kwargs).uniform_(-bound, bound)
        self.weight = nn.Parameter(weight)  # (D, 1, K) depthwise taps
        self.bias = nn.Parameter(torch.zeros(embed_dim, **self.factory_kwargs)) if conv_bias else None

    def _forward(self, X, **Z):
        x = F.pad(X.transpose(1, 2), (self.kernel_size - 1, 0))  # (B, D, K-1+L), left padding only
        y = F.conv1d(x, self.weight, self.bias, groups=self.embed_dim).transpose(1, 2)  # (B, L, D)
        return F.silu(y) if self.conv_silu else y


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "conv", "search_space": {"kernel_size": [2, 3, 4, 8], "conv_silu": [False, True]}}
