import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class GatedLinearAttention(GAUBase):
    """Gated linear attention (GLA, Yang et al. 2024, "Gated Linear Attention
    Transformers with Hardware-Efficient Training").

    Per head, a matrix state S (dk x dv) with a data-dependent per-key-channel decay:
        alpha_t = sigmoid(W2 W1 x_t + b) ^ (1 / gate_logit_normalizer)   (low-rank gate)
        S_t = diag(alpha_t) S_{t-1} + k_t^T v_t,        o_t = q_t S_t   (q scaled by dk^-1/2)
    then a per-head RMSNorm, a swish output gate and `out_proj`:
        Y = out_proj(RMSNorm_head(o) * silu(W_g x)).
    Keys use expand_k * embed_dim channels, values embed_dim; n_heads defaults to
    embed_dim // head_dim.

    Computed chunkwise (chunks of `chunk_size`): a Python loop over chunks carries S;
    inside a chunk, scores use cumulative log-gates b with secondary sub-chunks of 8:
    pairs in different sub-chunks factor the decay through the query sub-chunk's
    start (q * exp(b_t - b_ref), k * exp(b_ref - b_s)), pairs in the same sub-chunk
    use exact pairwise exp(b_t - b_s). No exponent is ever positive, so any gate
    strength stays finite in float32. Low-precision inputs are computed in float32.
    Time O(L * (chunk + dk) * D), memory O(L * D * 8). Needs no position unit (the
    decay encodes order).
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, head_dim: int = 64, expand_k: float = 0.5, gate_low_rank_dim: int = 16,
                 gate_logit_normalizer: float = 16.0, chunk_size: int = 32, norm_eps: float = 1e-5, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.n_heads = n_heads or max(1, embed_dim // head_dim)
        self.key_dim = int(embed_dim * expand_k)
        assert embed_dim % self.n_heads == 0, f"embed_dim {embed_dim} not divisible by n_heads {self.n_heads}"
        assert self.key_dim % self.n_heads == 0, f"key_dim {self.key_dim} not divisible by n_heads {self.n_heads}"
        self.dk = self.key_dim // self.n_heads
        self.dv = embed_dim // self.n_heads
        self.gate_logit_normalizer = gate_logit_normalizer
        self.chunk_size = chunk_size
        self.sub_chunk = math.gcd(chunk_size, 8)
        self.norm_eps = norm_eps
        # q, k (key_dim each), v and output gate g (embed_dim each) in one projection
        self.in_proj = nn.Linear(embed_dim, 2 * self.key_dim + 2 * embed_dim, bias=False, **self.factory_kwargs)
        self.gk_down = nn.Linear(embed_dim, gate_low_rank_dim, bias=False, **self.factory_kwargs)
        self.gk_up = nn.Linear(gate_low_rank_dim, self.key_dim, bias=True, **self.factory_kwargs)
        self.norm_weight = nn.Parameter(torch.ones(self.dv, **self.factory_kwargs))
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=False, **self.factory_kwargs)

    def _chunked(self, q, k, v, log_a):
        """o_t = q_t S_t with S_t = diag(exp(log_a_t)) S_{t-1} + k_t^T v_t, S_0 = 0.

        q, k, log_a: (B, H, L, dk); v: (B, H, L, dv); log_a <= 0. Returns (B, H, L, dv).
        """
        B, H, L, dk = q.shape
        dv = v.shape[-1]
        C, c = self.chunk_size, self.sub_chunk
        n = C // c
        pad = (-L) % C
        if pad:  # padding at the end: never seen by real positions
            q, k, v, log_a = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v, log_a))
        N = (L + pad) // C
        q, k, log_a = (t.reshape(B, H, N, C, dk) for t in (q, k, log_a))
        v = v.reshape(B, H, N, C, dv)
        b = log_a.cumsum(dim=-2)  # (B, H, N, C, dk): inclusive cumulative log-decay inside each chunk, <= 0
        bs = b.view(B, H, N, n, c, dk)  # by sub-chunk
        pos = torch.arange(C, device=q.device)

        # intra-chunk, query sub-chunk i vs keys of earlier sub-chunks: factor through
        # ref_i = b just before sub-chunk i, so both exponents are <= 0
        ref = torch.cat([torch.zeros_like(b[..., :1, :]), b[..., c - 1 : C - 1 : c, :]], dim=-2)  # (B, H, N, n, dk)
        before = pos[None, :] < (torch.arange(n, device=q.device) * c)[:, None]  # (n, C): key s before sub-chunk i
        q_off = q.view(B, H, N, n, c, dk) * (bs - ref.unsqueeze(-2)).exp()
        k_dec = (ref.unsqueeze(-2) - b.unsqueeze(-3)).masked_fill(~before[:, :, None], float("-inf")).exp()
        A = q_off @ (k.unsqueeze(-3) * k_dec).transpose(-1, -2)  # (B, H, N, n, c, C)
        o = A @ v.unsqueeze(-3)  # (B, H, N, n, c, dv)
        # intra-chunk, same sub-chunk: exact pairwise decays exp(b_t - b_s), s <= t
        tril = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
        E = (bs.unsqueeze(-2) - bs.unsqueeze(-3)).masked_fill(~tril[:, :, None], float("-inf")).exp()  # (.., t, s, dk)
        A = (q.view(B, H, N, n, c, 1, dk) * k.view(B, H, N, n, 1, c, dk) * E).sum(-1)  # (B, H, N, n, c, c)
        o = (o + A @ v.view(B, H, N, n, c, dv)).reshape(B, H, N, C, dv)

        # inter-chunk: carry the state across chunks
        b_last = b[..., -1:, :]  # (B, H, N, 1, dk)
        kv = (k * (b_last - b).exp()).transpose(-1, -2) @ v  # (B, H, N, dk, dv), chunk's contribution to S
        decay = b_last.squeeze(-2).exp().unsqueeze(-1)  # (B, H, N, dk, 1)
        S = torch.zeros(B, H, dk, dv, dtype=q.dtype, device=q.device)
        states = []
        for i in range(N):
            states.append(S)
            S = decay[:, :, i] * S + kv[:, :, i]
        o = o + (q * b.exp()) @ torch.stack(states, dim=2)
        return o.reshape(B, H, N * C, dv)[:, :, :L]

    def _forward(self, X, **Z):
        B, L, D = X.shape
        H, dk, dv = self.n_heads, self.dk, self.dv
        q, k, v, g = self.in_proj(X).split([self.key_dim, self.key_dim, D, D], dim=-1)
        log_a = F.logsigmoid(self.gk_up(self.gk_down(X))) / self.gate_logit_normalizer  # (B, L, key_dim), <= 0
        cdt = torch.float32 if X.dtype in (torch.float16, torch.bfloat16) else X.dtype
        q = q.view(B, L, H, dk).transpose(1, 2).to(cdt) * dk ** -0.5
        k = k.view(B, L, H, dk).transpose(1, 2).to(cdt)
        v = v.view(B, L, H, dv).transpose(1, 2).to(cdt)
        log_a = log_a.view(B, L, H, dk).transpose(1, 2).to(cdt)
        o = self._chunked(q, k, v, log_a)  # (B, H, L, dv)
        o = F.rms_norm(o, (dv,), self.norm_weight.to(cdt), self.norm_eps)
        o = o.transpose(1, 2).reshape(B, L, D).to(X.dtype) * F.silu(g)
        return self.out_proj(o), {}


CHILDREN_DECLARATIONS = []

UNIT_INFO = {
    "role": "token_mixer",
    "search_space": {"head_dim": [32, 64, 128], "expand_k": [0.5, 1.0], "chunk_size": [32, 64]},
}
