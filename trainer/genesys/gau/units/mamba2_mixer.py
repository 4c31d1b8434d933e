import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class Mamba2Mixer(GAUBase):
    """Mamba-2 token mixer: a selective state space model computed with SSD.

    Dao & Gu 2024, "Transformers are SSMs" (arXiv 2405.21060). One linear `in_proj`
    gives (z, x, B, C, dt); a short causal depthwise conv (left-padded, width
    `d_conv`) and SiLU act on x, B and C. Per head h (n_heads = expand * D / headdim)
    the state h_t (headdim x d_state) follows
        h_t = exp(dt_t * A_h) h_{t-1} + dt_t * x_t B_t^T,   y_t = h_t C_t + D_h * x_t
    with A_h = -exp(A_log_h) a scalar (times identity), dt_t = softplus(dt + dt_bias).
    B and C are shared by the heads of each of `ngroups` groups. The recurrence is
    computed with the chunked SSD algorithm: a quadratic (attention-like) form with a
    segment-sum decay mask inside chunks of `chunk_size`, and a state recurrence
    across chunks; L not divisible by the chunk size is zero-padded at the end.
    Output: gated RMSNorm(y * silu(z)) then `out_proj`.
    Cost O(L * chunk_size * (d_state + headdim) * n_heads) time, O(d_state * expand * D)
    state; no Z keys read or written.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 d_state: int = 64, d_conv: int = 4, expand: int = 2, headdim: int = 64,
                 ngroups: int = 1, chunk_size: int = 64, dt_min: float = 0.001, dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4, A_init_min: float = 1.0, A_init_max: float = 16.0,
                 norm_eps: float = 1e-5, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.d_inner = int(expand * embed_dim)
        self.n_heads = max(1, self.d_inner // headdim)
        assert self.d_inner % self.n_heads == 0, f"d_inner {self.d_inner} not divisible by n_heads {self.n_heads}"
        self.headdim = self.d_inner // self.n_heads
        assert self.n_heads % ngroups == 0, f"n_heads {self.n_heads} not divisible by ngroups {ngroups}"
        assert self.d_inner % ngroups == 0 and chunk_size > 0 and d_conv > 0
        self.d_state, self.d_conv, self.ngroups = d_state, d_conv, ngroups
        self.chunk_size, self.norm_eps = chunk_size, norm_eps
        self.conv_dim = self.d_inner + 2 * ngroups * d_state

        # (z, x, B, C, dt) in one projection, as in the reference implementation.
        self.in_proj = nn.Linear(embed_dim, 2 * self.d_inner + 2 * ngroups * d_state + self.n_heads,
                                 bias=False, **self.factory_kwargs)
        # Depthwise conv over x, B, C; PyTorch's Conv1d default init (uniform, 1/sqrt(fan_in)).
        bound = 1.0 / math.sqrt(d_conv)
        self.conv_weight = nn.Parameter(torch.empty(self.conv_dim, 1, d_conv, **self.factory_kwargs).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(self.conv_dim, **self.factory_kwargs).uniform_(-bound, bound))

        # dt_bias = softplus^-1(dt) with dt log-uniform in [dt_min, dt_max] (Mamba init).
        dt = torch.exp(torch.rand(self.n_heads, **self.factory_kwargs) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min)).clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        # A = -exp(A_log), |A| uniform in [A_init_min, A_init_max].
        A = torch.empty(self.n_heads, **self.factory_kwargs).uniform_(A_init_min, A_init_max)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.n_heads, **self.factory_kwargs))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True  # the Mamba convention: no weight decay on SSM scalars

        self.norm_weight = nn.Parameter(torch.ones(self.d_inner, **self.factory_kwargs))
        self.out_proj = nn.Linear(self.d_inner, embed_dim, bias=False, **self.factory_kwargs)

    def ssd(self, x, dt, A, B, C, D, chunk_size=None):
        """Chunked SSD scan. x (b, l, h, p), dt (b, l, h) > 0, A (h) < 0, B/C (b, l, g, n), D (h) -> (b, l, h, p)."""
        b, L, h, p = x.shape
        g, n = B.shape[2], B.shape[3]
        cs = min(chunk_size or self.chunk_size, L)  # a sequence shorter than a chunk is one chunk
        pad = (-L) % cs  # pad at the end only: earlier outputs never see the padding
        nc = (L + pad) // cs
        hg = h // g

        def chunked(t):  # (b, L, ...) -> (b, nc, cs, ...); zeros appended at the end (dt = 0: no decay, no write)
            if pad:
                t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
            return t.reshape(b, nc, cs, *t.shape[2:])

        # Work head-first, heads split as (group, heads per group) so B and C broadcast over a group.
        xdt = chunked(x * dt.unsqueeze(-1)).view(b, nc, cs, g, hg, p).permute(0, 3, 4, 1, 2, 5)  # (b, g, hg, nc, cs, p)
        B = chunked(B).unsqueeze(4).permute(0, 3, 4, 1, 2, 5)  # (b, g, 1, nc, cs, n)
        C = chunked(C).unsqueeze(4).permute(0, 3, 4, 1, 2, 5)
        dA = chunked(dt * A).view(b, nc, cs, g, hg).permute(0, 3, 4, 1, 2)  # (b, g, hg, nc, cs)
        dA_cs = dA.cumsum(dim=-1)

        # 1. Inside each chunk: y_l = sum_{s<=l} (C_l . B_s) exp(dA[s+1..l]) dt_s x_s.
        # Decay from s to l is exp(dA_cs[l] - dA_cs[s]) for s <= l (as Mamba-2's kernels compute it);
        # masked before exp, so the positive exponents above the diagonal never overflow.
        causal = torch.ones(cs, cs, dtype=torch.bool, device=x.device).tril()
        seg = (dA_cs.unsqueeze(-1) - dA_cs.unsqueeze(-2)).masked_fill(~causal, float("-inf"))
        scores = (C @ B.transpose(-1, -2)) * torch.exp(seg)  # (b, g, hg, nc, cs, cs)
        y = scores @ xdt  # (b, g, hg, nc, cs, p)

        # 2. State each chunk adds by its end: sum_s exp(dA[s+1..end]) dt_s B_s x_s^T, stored (n, p).
        decay_to_end = torch.exp(dA_cs[..., -1:] - dA_cs).unsqueeze(-1)  # (b, g, hg, nc, cs, 1)
        chunk_states = (B * decay_to_end).transpose(-1, -2) @ xdt  # (b, g, hg, nc, n, p)

        # 3. Recurrence over chunks: the state entering chunk c.
        chunk_decay = torch.exp(dA_cs[..., -1]).unsqueeze(-1).unsqueeze(-1)  # (b, g, hg, nc, 1, 1)
        state = xdt.new_zeros(b, g, hg, n, p)
        entering = []
        for c in range(nc):
            entering.append(state)
            state = state * chunk_decay[:, :, :, c] + chunk_states[:, :, :, c]
        entering = torch.stack(entering, dim=3)  # (b, g, hg, nc, n, p)

        # 4. Contribution of the entering state, decayed to each position.
        y = y + (C * torch.exp(dA_cs).unsqueeze(-1)) @ entering
        y = y.permute(0, 3, 4, 1, 2, 5).reshape(b, nc * cs, h, p)[:, :L]
        return y + x * D.view(1, 1, h, 1)

    def _forward(self, X, **Z):
        b, L, _ = X.shape
        zxbcdt = self.in_proj(X)
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.n_heads], dim=-1)
        # Causal depthwise conv: left padding of d_conv - 1, channels first.
        xBC = F.conv1d(F.pad(xBC.transpose(1, 2), (self.d_conv - 1, 0)), self.conv_weight, self.conv_bias,
                       groups=self.conv_dim)
        xBC = F.silu(xBC.transpose(1, 2))  # (b, L, conv_dim)
        gn = self.ngroups * self.d_state
        x, Bm, Cm = torch.split(xBC, [self.d_inner, gn, gn], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # (b, L, h)
        A = -torch.exp(self.A_log)  # (h,)
        y = self.ssd(x.reshape(b, L, self.n_heads, self.headdim), dt, A,
                     Bm.reshape(b, L, self.ngroups, self.d_state), Cm.reshape(b, L, self.ngroups, self.d_state),
                     self.D)
        # Gated RMSNorm (norm after gating, per group), as in Mamba-2.
        y = (y.reshape(b, L, self.d_inner) * F.silu(z)).view(b, L, self.ngroups, self.d_inner // self.ngroups)
        y = F.rms_norm(y, (y.size(-1),), eps=self.norm_eps).reshape(b, L, self.d_inner) * self.norm_weight
        return self.out_proj(y)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {
    "role": "token_mixer",
    "search_space": {
        "d_state": [16, 32, 64],  # 128 costs 3.5x the FLOPs of GPT-2 attention at L=256: the checker rejects it
        "expand": [1, 2],
        "headdim": [32, 64],
        "chunk_size": [32, 64, 128],
        "d_conv": [2, 4],
    },
}
