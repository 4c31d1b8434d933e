import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class RWKV6ChannelMix(GAUBase):
    """RWKV-6 "Finch" channel mixing: token-shifted squared-ReLU MLP with a receptance gate.

    Reference: Peng et al. 2024, "Eagle and Finch" (arXiv 2404.05892), section 4.
    With xx_t = x_{t-1} - x_t (x_{-1} = 0, so strictly causal):
        x_k = x + xx * mu_k,  x_r = x + xx * mu_r
        Y   = sigmoid(receptance(x_r)) * down_proj(relu(key(x_k))^2)
    The hidden width is `hidden_mult * embed_dim` rounded down to a multiple of 32
    (RWKV-6 uses 3.5). mu_k, mu_r get RWKV's layer-dependent init (more shift in
    early layers). Complexity O(L * D * hidden); reads and writes no Z keys.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 hidden_mult: float = 3.5, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        hidden = 32 * max(1, int(hidden_mult * embed_dim) // 32)
        self.time_maa_k = nn.Parameter(torch.empty(embed_dim, **self.factory_kwargs))
        self.time_maa_r = nn.Parameter(torch.empty(embed_dim, **self.factory_kwargs))
        self.key = nn.Linear(embed_dim, hidden, bias=False, **self.factory_kwargs)
        self.receptance = nn.Linear(embed_dim, embed_dim, bias=False, **self.factory_kwargs)
        self.down_proj = nn.Linear(hidden, embed_dim, bias=False, **self.factory_kwargs)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self):
        layer, n_layer = self.block_loc
        r10 = 1.0 - layer / n_layer  # 1 -> ~0 over depth
        ddd = torch.arange(self.embed_dim, device=self.time_maa_k.device, dtype=torch.float32) / self.embed_dim
        self.time_maa_k.copy_(1.0 - ddd ** r10)
        self.time_maa_r.copy_(1.0 - ddd ** r10)

    def _forward(self, X, **Z):
        xx = F.pad(X, (0, 0, 1, 0))[:, : X.shape[1]] - X  # x_{t-1} - x_t, zero before t = 0
        k = torch.relu(self.key(X + xx * self.time_maa_k)) ** 2
        r = torch.sigmoid(self.receptance(X + xx * self.time_maa_r))
        return r * self.down_proj(k)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "channel_mixer", "search_space": {"hidden_mult": [2.0, 3.0, 3.5, 4.0]}}
