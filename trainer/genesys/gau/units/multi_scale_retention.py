import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class MultiScaleRetention(GAUBase):
    """Multi-scale retention (MSR), the token mixer of RetNet (Sun et al. 2023, "Retentive Network").

    Per head h with a fixed decay gamma_h = 1 - 2^(-5 - h) (the paper's schedule; no
    softmax, no learned decay), on queries/keys rotated by the `RotaryEmbedding` child
    (the e^{i n theta} rotation of the paper; the decay gamma^(n-m) plays xPos's role):
        o_n = sum_{m <= n} gamma_h^(n - m) (q_n . k_m) v_m
    computed in the chunkwise recurrent form: inside a chunk of `chunk_size` tokens the
    parallel form (Q K^T * D) V with D[a, b] = gamma^(a - b) for a >= b (0 otherwise);
    across chunks a state S (Dk x Dv per head) carried with decay gamma^chunk_size,
    read by each query with weight gamma^(a + 1). The states of all chunks come from
    one matmul with a (chunks x chunks) decay matrix (no Python loop over tokens or
    chunks). Exactly equal to the parallel and the token-by-token recurrent forms.
    Then a per-head GroupNorm (which makes the paper's score normalizations redundant:
    they are per-token, per-head scalars), a swish gate and `out_proj`:
        Y = out_proj(silu(X W_g) * GroupNorm_h(o)).
    Value/gate width is `value_factor * embed_dim` (paper: 2; default 1.5 keeps the
    RetNet block within the GPT-2 block's size with a SwiGLU MLP). Heads: `n_heads`,
    else embed_dim // head_dim (query/key head size head_dim).
    Complexity: O(L * C * D + L * Dk * Dv) time for chunk size C, O(Dk * Dv) state per
    head; linear in sequence length. Position protocol: writes Z['q'], Z['k']
    (B, H, L, Dk) before calling the position child and reads them back; an
    `attn_bias` returned by a position unit is ignored (retention has no softmax).
    Reads/writes no other Z keys.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, head_dim: int = 64, value_factor: float = 1.5,
                 chunk_size: int = 64, bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        H = n_heads or max(1, embed_dim // head_dim)
        while embed_dim % H:  # largest head count <= H that divides embed_dim
            H -= 1
        self.n_heads = H
        self.key_dim = embed_dim // H  # per head
        self.value_head_dim = max(1, int(round(value_factor * embed_dim / H)))
        self.value_dim = H * self.value_head_dim
        self.chunk_size = chunk_size
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **self.factory_kwargs)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **self.factory_kwargs)
        self.v_proj = nn.Linear(embed_dim, self.value_dim, bias=bias, **self.factory_kwargs)
        self.g_proj = nn.Linear(embed_dim, self.value_dim, bias=bias, **self.factory_kwargs)
        self.out_proj = nn.Linear(self.value_dim, embed_dim, bias=bias, **self.factory_kwargs)
        self.group_norm_weight = nn.Parameter(torch.ones(self.value_dim, **self.factory_kwargs))
        self.group_norm_bias = nn.Parameter(torch.zeros(self.value_dim, **self.factory_kwargs))
        self.rotary_emb = RotaryEmbedding(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                          **self.factory_kwargs, **kwarg_all)

    def log_decay(self, device=None, dtype=torch.float32):
        """log(gamma_h) per head, (H,): gamma_h = 1 - 2^(-5 - h). Fixed, not a parameter."""
        h = torch.arange(self.n_heads, device=device, dtype=torch.float64)
        return torch.log1p(-torch.pow(2.0, -5.0 - h)).to(dtype)

    def retention(self, q, k, v, log_decay, chunk_size=None):
        """Chunkwise retention. q, k: (B, H, L, Dk); v: (B, H, L, Dv); log_decay: (H,) <= 0.

        Returns o (B, H, L, Dv), o_n = sum_{m <= n} exp(log_decay * (n - m)) (q_n . k_m) v_m.
        """
        B, H, L, Dk = q.shape
        Dv = v.shape[-1]
        C = max(1, min(chunk_size or self.chunk_size, L))
        N = -(-L // C)  # number of chunks
        pad = N * C - L
        if pad:  # zeros after the end: no effect on real positions (causal), cut below
            q = F.pad(q, (0, 0, 0, pad))
            k = F.pad(k, (0, 0, 0, pad))
            v = F.pad(v, (0, 0, 0, pad))
        q = q.reshape(B, H, N, C, Dk)
        k = k.reshape(B, H, N, C, Dk)
        v = v.reshape(B, H, N, C, Dv)
        ld = log_decay.to(q.dtype).view(H, 1, 1)
        pos = torch.arange(C, device=q.device, dtype=q.dtype)
        diff = pos.view(C, 1) - pos.view(1, C)  # a - b
        mask = torch.where(diff >= 0, torch.exp(ld * diff.clamp(min=0)), torch.zeros_like(diff))  # (H, C, C)
        scores = torch.matmul(q, k.transpose(-1, -2)) * mask.unsqueeze(1)  # (B, H, N, C, C)
        out = torch.matmul(scores, v)  # intra-chunk part
        if N > 1:
            # contribution of each chunk to the state at its end: sum_b gamma^(C-1-b) k_b^T v_b
            k_w = k * torch.exp(ld * (C - 1 - pos).view(1, C)).view(1, H, 1, C, 1)
            kv = torch.matmul(k_w.transpose(-1, -2), v)  # (B, H, N, Dk, Dv)
            # state after chunk i: S_i = sum_{j <= i} gamma^(C (i - j)) kv_j, as one matmul
            idx = torch.arange(N, device=q.device, dtype=q.dtype)
            cdiff = idx.view(N, 1) - idx.view(1, N)
            cmask = torch.where(cdiff >= 0, torch.exp(ld * C * cdiff.clamp(min=0)), torch.zeros_like(cdiff))
            states = torch.matmul(cmask.unsqueeze(0), kv.reshape(B, H, N, Dk * Dv))  # (B, H, N, Dk*Dv)
            states = states.reshape(B, H, N, Dk, Dv)[:, :, :-1]  # state entering chunks 1..N-1
            q_w = q[:, :, 1:] * torch.exp(ld * (pos + 1).view(1, C)).view(1, H, 1, C, 1)
            cross = torch.matmul(q_w, states)  # (B, H, N-1, C, Dv)
            out = torch.cat([out[:, :, :1], out[:, :, 1:] + cross], dim=2)
        return out.reshape(B, H, N * C, Dv)[:, :, :L]

    def _forward(self, X, **Z):
        B, L, D = X.shape
        H = self.n_heads
        q = self.q_proj(X).view(B, L, H, self.key_dim).transpose(1, 2)  # (B, H, L, Dk)
        k = self.k_proj(X).view(B, L, H, self.key_dim).transpose(1, 2) * (self.key_dim ** -0.5)
        v = self.v_proj(X).view(B, L, H, self.value_head_dim).transpose(1, 2)  # (B, H, L, Dv)
        Z["q"], Z["k"] = q, k
        _, Z = self.rotary_emb(X, **Z)
        q, k = Z["q"], Z["k"]
        o = self.retention(q, k, v, self.log_decay(X.device, X.dtype))  # (B, H, L, Dv)
        o = o.transpose(1, 2).reshape(B * L, self.value_dim)
        o = F.group_norm(o, H, self.group_norm_weight, self.group_norm_bias, 1e-5).view(B, L, self.value_dim)
        return self.out_proj(F.silu(self.g_proj(X)) * o), {}


CHILDREN_DECLARATIONS = [
    UnitDecl(
        unitname="RotaryEmbedding",
        requirements="position protocol: rotates Z['q'] and Z['k'] (B, H, L, Dh) by absolute position",
        inputs=["X", "q", "k"],
        outputs=["Y", "q", "k"],
    ),
]

UNIT_INFO = {
    "role": "token_mixer",
    "search_space": {"head_dim": [32, 64], "value_factor": [1.0, 1.5, 2.0]},
}
