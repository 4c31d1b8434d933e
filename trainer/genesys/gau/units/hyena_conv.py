import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class HyenaConv(GAUBase):
    """Hyena operator: gated implicit long convolutions (Poli et al. 2023, "Hyena
    Hierarchy: Towards Larger Convolutional Language Models"), order N (default 2).

    in_proj maps X to N+1 streams (v, x_1, ..., x_N) of width D, each passed through a
    short depthwise causal conv (`short_kernel` taps, left padding). Then the Hyena
    recurrence v <- h_i * (x_i . v) + b_i . (x_i . v) for i = 1..N-1 (h_i a causal long
    convolution over the whole sequence, b_i a per-channel skip), y = x_N . v, and
    out_proj. Order 2 is y = x_2 . (h * (x_1 . v)), the H3/Hyena gating.

    The long filters h_i (one per channel, length L) are implicit: a small MLP with sine
    activations (hidden `filter_order`) over positional features of the lag tau
    (log1p(tau) and sin/cos of tau at `filter_bands` geometric periods 4..8192), times
    an exponential decay window exp(-a_c tau) with learnable per-channel rates a_c
    (initial reach, where the window falls to 1e-2, spread geometrically over 4..1024
    tokens). h at lag tau depends on tau only, never on L, so outputs on a prefix equal
    the prefix of the outputs. The convolution is computed with torch.fft.rfft over
    n = 2L (zero padding makes it linear, i.e. causal, not circular), in float32 or
    float64. Cost O(B D L log L) time, O(B D L) memory; about 5 D^2 parameters at
    order 2 plus a ~(17 + 64 + D) * 64 filter MLP. Reads/writes no Z keys.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 hyena_order: int = 2, short_kernel: int = 3, filter_order: int = 64, filter_bands: int = 8,
                 bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        assert hyena_order >= 2, f"hyena_order must be >= 2, got {hyena_order}"
        D, N = embed_dim, hyena_order
        self.order, self.short_kernel, self.filter_bands = N, short_kernel, filter_bands
        self.in_proj = nn.Linear(D, (N + 1) * D, bias=bias, **self.factory_kwargs)
        bound = 1.0 / math.sqrt(short_kernel)
        self.short_conv_weight = nn.Parameter(
            torch.empty((N + 1) * D, 1, short_kernel, **self.factory_kwargs).uniform_(-bound, bound))
        self.short_conv_bias = nn.Parameter(torch.zeros((N + 1) * D, **self.factory_kwargs))
        # Implicit filter: positional features (L, 1 + 2 * bands) -> MLP with sine activations -> (L, (N-1) D).
        self.filter_in = nn.Linear(1 + 2 * filter_bands, filter_order, **self.factory_kwargs)
        self.filter_mid = nn.Linear(filter_order, filter_order, **self.factory_kwargs)
        self.filter_out = nn.Linear(filter_order, (N - 1) * D, bias=False, **self.factory_kwargs)
        self.filter_freq = nn.Parameter(torch.ones(2, filter_order, **self.factory_kwargs))  # sine frequencies
        reach = torch.logspace(math.log10(4.0), math.log10(1024.0), D, **self.factory_kwargs)  # tokens to 1e-2
        self.log_decay = nn.Parameter(torch.log(math.log(100.0) / reach).repeat(N - 1, 1))  # (N-1, D)
        self.filter_bias = nn.Parameter(torch.randn(N - 1, D, **self.factory_kwargs))  # skip term b_i
        self.out_proj = nn.Linear(D, D, bias=bias, **self.factory_kwargs)

    def _init_weights(self):
        # The LM gave every Linear std 0.02 and zero bias; the filter MLP needs the usual
        # fan-in init (and its biases) to produce varied filters.
        self.filter_in.reset_parameters()
        self.filter_mid.reset_parameters()
        self.filter_out.reset_parameters()

    def positional_features(self, L, device, dtype):
        """(L, 1 + 2 * bands) features of the lag tau = 0..L-1; each row depends on tau only."""
        tau = torch.arange(L, device=device, dtype=torch.float32)
        periods = torch.logspace(math.log10(4.0), math.log10(8192.0), self.filter_bands,
                                 device=device, dtype=torch.float32)
        angles = tau[:, None] * (2 * math.pi / periods)  # (L, bands)
        logt = torch.log1p(tau)[:, None] / math.log1p(8192.0)
        return torch.cat([logt, angles.sin(), angles.cos()], dim=-1).to(dtype)

    def filters(self, L, device):
        """The long filters h, (N-1, D, L) in float32 (float64 if the unit is float64)."""
        dtype = self.filter_in.weight.dtype
        z = self.positional_features(L, device, dtype)
        z = torch.sin(self.filter_freq[0] * self.filter_in(z))
        z = torch.sin(self.filter_freq[1] * self.filter_mid(z))
        ft = torch.promote_types(dtype, torch.float32)
        h = self.filter_out(z).to(ft).transpose(0, 1).reshape(self.order - 1, self.embed_dim, L)
        tau = torch.arange(L, device=device, dtype=ft)
        decay = torch.exp(-self.log_decay.to(ft).exp().unsqueeze(-1) * tau)  # (N-1, D, L)
        return h * decay

    @staticmethod
    def long_conv(u, h, bias):
        """Causal convolution y[t] = sum_{s<=t} h[t-s] u[s] + bias u[t] via FFT of size 2L.

        u (B, C, L), h (C, L), bias (C,). Computed in float32 at least.
        """
        L = u.shape[-1]
        ft = torch.promote_types(u.dtype, torch.float32)
        u, h = u.to(ft), h.to(ft)
        n = 2 * L
        y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(h, n=n), n=n)[..., :L]
        return y + u * bias.to(ft).unsqueeze(-1)

    def _forward(self, X, **Z):
        B, L, D = X.shape
        C = (self.order + 1) * D
        z = self.in_proj(X).transpose(1, 2)  # (B, (N+1) D, L)
        z = F.conv1d(F.pad(z, (self.short_kernel - 1, 0)), self.short_conv_weight, self.short_conv_bias, groups=C)
        v, *xs = z.split(D, dim=1)  # (B, D, L) each
        h = self.filters(L, X.device)
        for i in range(self.order - 1):
            v = self.long_conv(xs[i] * v, h[i], self.filter_bias[i])
        y = (xs[-1] * v).to(X.dtype).transpose(1, 2)  # (B, L, D)
        return self.out_proj(y)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {
    "role": "token_mixer",
    "search_space": {"hyena_order": [2, 3], "short_kernel": [3, 4], "filter_order": [32, 64]},
}
