import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class RWKV6TimeMix(GAUBase):
    """RWKV-6 "Finch" time mixing: data-dependent token shift and data-dependent decay.

    Reference: Peng et al. 2024, "Eagle and Finch: RWKV with Matrix-Valued States and
    Dynamic Recurrence" (arXiv 2404.05892), section 4 (RWKV-6).

    1. Token shift with data-dependent lerp (ddlerp): with xx_t = x_{t-1} - x_t
       (x_{-1} = 0, strictly causal), a small tanh LoRA of x + xx * mu_x produces five
       per-token mixing vectors m_*; x_* = x + xx * (mu_* + m_*) for * in w, k, v, r, g.
    2. r, k, v, g = receptance(x_r), key(x_k), value(x_v), silu(gate(x_g)).
    3. Per-channel decay w_t = exp(-exp(w0 + tanh(x_w A) B)) (a second LoRA), so the
       log-decay is -exp(.) <= 0. It is clamped at -exp(4) ~ -55 (a decay <= 1e-24
       is zero for float32 purposes) so that chunk-wise cumulative sums stay bounded.
    4. Multi-head WKV with a (K x V) matrix state per head and a bonus u for the
       current token:  y_t = r_t (S_{t-1} + diag(u) k_t^T v_t),
                       S_t = diag(w_t) S_{t-1} + k_t^T v_t.
    5. Per-head GroupNorm of y, times the gate g, then out_proj.

    The WKV is computed in chunked form (`_wkv`): chunks of `chunk_size` tokens carry
    the state across chunks (a Python loop over L / chunk_size chunks); within a chunk
    an attention-like masked matmul uses relative decays exp(sum of log-decays between
    j and i). For numerical stability every exponent is <= 0: chunks are split into
    sub-chunks of `sub_chunk_size`; a query is rescaled relative to the start of its
    own sub-chunk, keys relative to the end of theirs, and a per-channel factor per
    pair of sub-chunks bridges the two; pairs inside one sub-chunk are computed one
    diagonal band at a time with their exact decays. Exact for any decay, including
    w = exp(-exp(3)) per step.

    Complexity: O(L * chunk_size * D) time, O(L * (D + H * chunk_size)) memory, with a
    state of H * head_dim^2 per sequence. Reads and writes no Z keys.
    Hyper-parameters: head_dim (n_heads = embed_dim // head_dim unless n_heads is
    given), mix_lora_dim / decay_lora_dim (0 = derived from embed_dim; 32 / 64 at
    embed_dim >= 256 as in the paper), chunk_size, sub_chunk_size.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, head_dim: int = 64, mix_lora_dim: int = 0, decay_lora_dim: int = 0,
                 chunk_size: int = 32, sub_chunk_size: int = 8, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.n_heads = n_heads or max(1, embed_dim // head_dim)
        assert embed_dim % self.n_heads == 0, f"embed_dim {embed_dim} not divisible by n_heads {self.n_heads}"
        self.head_dim = embed_dim // self.n_heads
        self.mix_lora_dim = mix_lora_dim or max(8, min(32, embed_dim // 8))
        self.decay_lora_dim = decay_lora_dim or max(16, min(64, embed_dim // 4))
        self.chunk_size = chunk_size
        self.sub_chunk_size = sub_chunk_size
        D, R, Rd = embed_dim, self.mix_lora_dim, self.decay_lora_dim
        fk = self.factory_kwargs

        # ddlerp: mu_x, mu_{w,k,v,r,g} and the LoRA (A: D -> 5R, B: 5 x R -> D)
        self.time_maa_x = nn.Parameter(torch.empty(D, **fk))
        self.time_maa_wkvrg = nn.Parameter(torch.empty(5, D, **fk))
        self.time_maa_w1 = nn.Parameter(torch.empty(D, 5 * R, **fk))
        self.time_maa_w2 = nn.Parameter(torch.empty(5, R, D, **fk))
        # data-dependent decay: w0 and its LoRA; bonus u per head and channel
        self.time_decay = nn.Parameter(torch.empty(D, **fk))
        self.time_decay_w1 = nn.Parameter(torch.empty(D, Rd, **fk))
        self.time_decay_w2 = nn.Parameter(torch.empty(Rd, D, **fk))
        self.time_faaaa = nn.Parameter(torch.empty(self.n_heads, self.head_dim, **fk))

        self.receptance = nn.Linear(D, D, bias=False, **fk)
        self.key = nn.Linear(D, D, bias=False, **fk)
        self.value = nn.Linear(D, D, bias=False, **fk)
        self.gate = nn.Linear(D, D, bias=False, **fk)
        self.out_proj = nn.Linear(D, D, bias=False, **fk)
        # per-head GroupNorm (RWKV's ln_x, eps = 1e-5 * head_size_divisor^2 with divisor 8)
        self.ln_x_weight = nn.Parameter(torch.empty(D, **fk))
        self.ln_x_bias = nn.Parameter(torch.empty(D, **fk))
        self.ln_x_eps = 64e-5
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self):
        """RWKV-6 layer-dependent init of the mixing, decay and bonus vectors."""
        layer, n_layer = self.block_loc
        r01 = layer / (n_layer - 1) if n_layer > 1 else 0.0  # 0 -> 1 over depth
        r10 = 1.0 - layer / n_layer  # 1 -> ~0 over depth
        D = self.embed_dim
        dev = self.time_decay.device
        ddd = torch.arange(D, device=dev, dtype=torch.float32) / D
        self.time_maa_x.copy_(1.0 - ddd ** r10)
        maa = torch.stack([
            1.0 - ddd ** r10,                   # w
            1.0 - ddd ** r10,                   # k
            1.0 - (ddd ** r10 + 0.3 * r01),     # v
            1.0 - ddd ** (0.5 * r10),           # r
            1.0 - ddd ** (0.5 * r10),           # g
        ])
        self.time_maa_wkvrg.copy_(maa)
        # The paper zero-inits the first LoRA factor; a tiny uniform one instead keeps a
        # gradient on the second factor from the very first step.
        self.time_maa_w1.uniform_(-1e-2, 1e-2)
        self.time_maa_w2.uniform_(-1e-2, 1e-2)
        self.time_decay_w1.uniform_(-1e-2, 1e-2)
        self.time_decay_w2.uniform_(-1e-2, 1e-2)
        n = torch.arange(D, device=dev, dtype=torch.float32)
        frac = n / max(D - 1, 1)
        self.time_decay.copy_(-6.0 + 5.0 * frac ** (0.7 + 1.3 * r01))  # log(-log w0) in [-6, -1]
        zigzag = ((n + 1) % 3 - 1) * 0.1
        self.time_faaaa.copy_((r01 * (1.0 - frac) + zigzag).view(self.n_heads, self.head_dim))
        self.ln_x_weight.fill_(((1 + layer) / n_layer) ** 0.7)
        self.ln_x_bias.zero_()

    def _wkv(self, r, k, v, lw, u, chunk_size=None):
        """Chunked WKV. r, k, lw: (B, H, L, K), v: (B, H, L, V), u: (H, K); lw = log w <= 0.

        Returns y (B, H, L, V) with y_t = r_t (S_{t-1} + diag(u) k_t^T v_t) and
        S_t = diag(exp(lw_t)) S_{t-1} + k_t^T v_t, S_{-1} = 0.
        """
        B, H, L, K = r.shape
        V = v.shape[-1]
        C = chunk_size or self.chunk_size
        s = math.gcd(C, self.sub_chunk_size)  # sub-chunk length
        M = C // s  # sub-chunks per chunk
        pad = (-L) % C
        if pad:  # padded steps come after every real one: no decay, no input
            r, k, v, lw = (F.pad(t, (0, 0, 0, pad)) for t in (r, k, v, lw))
        N = (L + pad) // C
        r, k, lw = (t.reshape(B, H, N, C, K) for t in (r, k, lw))
        v = v.reshape(B, H, N, C, V)

        A = lw.cumsum(-2)  # inclusive: sum_{m <= i} lw_m within the chunk
        Bx = F.pad(A[..., :-1, :], (0, 0, 1, 0))  # exclusive: sum_{m < i} lw_m

        # intra-chunk, j in an earlier sub-chunk c than i's sub-chunk a:
        #   decay(i <- j) = exp(Bx_i - R_a) * exp(R_a - E_c) * exp(E_c - A_j)
        # with R_a = Bx at the start of sub-chunk a and E_c = A at the end of sub-chunk c;
        # all three exponents are <= 0. Only the M (M - 1) / 2 pairs c < a are computed.
        As, Bs = A.view(B, H, N, M, s, K), Bx.view(B, H, N, M, s, K)
        rs, ks = r.view(B, H, N, M, s, K), k.view(B, H, N, M, s, K)
        Ref, E = Bs[..., :1, :], As[..., -1:, :]  # (B, H, N, M, 1, K)
        q_t = rs * torch.exp(Bs - Ref)
        k_t = ks * torch.exp(E - As)
        ai, ci = torch.tril_indices(M, M, -1, device=r.device)  # pairs (a, c), c < a
        G = torch.exp(Ref[:, :, :, ai] - E[:, :, :, ci])  # (B, H, N, P, 1, K)
        blocks = q_t[:, :, :, ai] @ (k_t[:, :, :, ci] * G).transpose(-1, -2)  # (B, H, N, P, s, s)

        # intra-chunk, same sub-chunk: one band per offset d = i - j, decay exp(Bx_i - A_j)
        # (exponent <= 0), plus the bonus u on the diagonal (d = 0)
        att_d = torch.diag_embed((rs * u[None, :, None, None, None, :] * ks).sum(-1))  # (B, H, N, M, s, s)
        for d in range(1, s):
            band = (rs[..., d:, :] * ks[..., :-d, :] * torch.exp(Bs[..., d:, :] - As[..., :-d, :])).sum(-1)
            att_d = att_d + torch.diag_embed(band, offset=-d)

        # assemble the (C x C) causal matrix from its (s x s) blocks, then one matmul with v
        ad = torch.arange(M, device=r.device)
        att = att_d.new_zeros(B, H, N, M * M, s, s).index_copy(
            3, torch.cat([ai * M + ci, ad * (M + 1)]), torch.cat([blocks, att_d], dim=3))
        att = att.view(B, H, N, M, M, s, s).transpose(4, 5).reshape(B, H, N, C, C)
        y = att @ v  # (B, H, N, C, V)

        # inter-chunk: carry the state S (B, H, K, V) across chunks
        T = A[..., -1:, :]  # (B, H, N, 1, K): log-decay of the whole chunk
        U = (k * torch.exp(T - A)).transpose(-1, -2) @ v  # (B, H, N, K, V), exponent <= 0
        wT = torch.exp(T).transpose(-1, -2)  # (B, H, N, K, 1)
        S = torch.zeros(B, H, K, V, dtype=v.dtype, device=v.device)
        states = [S]
        for w_n, U_n in zip(wT.unbind(2)[:-1], U.unbind(2)[:-1]):
            S = torch.addcmul(U_n, w_n, S)  # S = w_n * S + U_n
            states.append(S)
        S_prev = torch.stack(states, dim=2)  # (B, H, N, K, V): state before each chunk
        y = y + (r * torch.exp(Bx)) @ S_prev  # exponent <= 0
        return y.reshape(B, H, N * C, V)[:, :, :L]

    def _forward(self, X, **Z):
        B, L, D = X.shape
        H, K = self.n_heads, self.head_dim
        xx = F.pad(X, (0, 0, 1, 0))[:, :L] - X  # x_{t-1} - x_t, zero before t = 0

        # data-dependent lerp (ddlerp)
        xxx = torch.tanh((X + xx * self.time_maa_x) @ self.time_maa_w1)  # (B, L, 5R)
        m = torch.einsum("blfr,frd->blfd", xxx.view(B, L, 5, self.mix_lora_dim), self.time_maa_w2)
        x5 = X.unsqueeze(2) + xx.unsqueeze(2) * (self.time_maa_wkvrg + m)  # (B, L, 5, D)
        xw, xk, xv, xr, xg = x5.unbind(2)

        r = self.receptance(xr)
        k = self.key(xk)
        v = self.value(xv)
        g = F.silu(self.gate(xg))
        w = self.time_decay + torch.tanh(xw @ self.time_decay_w1) @ self.time_decay_w2
        ct = torch.promote_types(X.dtype, torch.float32)  # WKV in at least float32
        lw = -torch.exp(w.to(ct).clamp(max=4.0))  # log-decay, in [-e^4, 0]

        def heads(t):
            return t.view(B, L, H, K).transpose(1, 2).to(ct)  # (B, H, L, K)

        y = self._wkv(heads(r), heads(k), heads(v), heads(lw), self.time_faaaa.to(ct))
        y = F.layer_norm(y.transpose(1, 2), (K,), eps=self.ln_x_eps)  # per-head GroupNorm, (B, L, H, K)
        y = (y.reshape(B, L, D) * self.ln_x_weight + self.ln_x_bias).to(X.dtype)
        return self.out_proj(y * g)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {
    "role": "token_mixer",
    "search_space": {"head_dim": [32, 64], "mix_lora_dim": [0, 16, 32], "decay_lora_dim": [0, 32, 64]},
}
