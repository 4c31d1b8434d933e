import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class GroupedQueryAttention(GAUBase):
    """Causal grouped-query softmax self-attention (GQA, Ainslie et al. 2023).

    `n_heads` query heads share `n_kv_heads` key/value heads: query head h reads
    key/value head h // (n_heads / n_kv_heads). n_kv_heads == n_heads is plain
    multi-head attention, n_kv_heads == 1 is multi-query attention. Fewer K/V heads
    shrink the K/V projections (and the inference cache) by n_heads / n_kv_heads.
    n_heads defaults to embed_dim // head_dim; n_kv_heads = 0 means n_heads // 4
    (at least 1); the value used is gcd(n_heads, n_kv_heads) so any choice divides.

    Queries and keys go through the `RotaryEmbedding` child (position protocol: it
    reads Z["q"] (B, H, L, Dh) and Z["k"] (B, H_kv, L, Dh), may rotate them and may
    return an additive Z["attn_bias"] (H, L, L)). Fused scaled-dot-product attention
    with grouped heads. Time O(L^2 * D), memory O(L * D) (O(L^2) with a bias).
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, n_kv_heads: int = 0, head_dim: int = 64, bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.n_heads = n_heads or max(1, embed_dim // head_dim)
        assert embed_dim % self.n_heads == 0, f"embed_dim {embed_dim} not divisible by n_heads {self.n_heads}"
        self.head_dim = embed_dim // self.n_heads
        self.n_kv_heads = math.gcd(self.n_heads, n_kv_heads or max(1, self.n_heads // 4))
        self.q_proj = nn.Linear(embed_dim, self.n_heads * self.head_dim, bias=bias, **self.factory_kwargs)
        self.kv_proj = nn.Linear(embed_dim, 2 * self.n_kv_heads * self.head_dim, bias=bias, **self.factory_kwargs)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **self.factory_kwargs)
        self.rotary_emb = RotaryEmbedding(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                          **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        B, L, D = X.shape
        q = self.q_proj(X).view(B, L, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, L, Dh)
        k, v = self.kv_proj(X).view(B, L, 2, self.n_kv_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, Hkv, L, Dh)
        Z["q"], Z["k"] = q, k
        _, Z = self.rotary_emb(X, **Z)
        q, k, bias = Z["q"], Z["k"], Z.get("attn_bias")
        gqa = self.n_kv_heads != self.n_heads
        if bias is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            causal = torch.ones(L, L, dtype=torch.bool, device=X.device).tril()
            mask = bias.to(q.dtype).masked_fill(~causal, float("-inf"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        y = y.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.out_proj(y), {}


CHILDREN_DECLARATIONS = [
    UnitDecl(
        unitname="RotaryEmbedding",
        requirements="position protocol: rotates Z['q'] (B, H, L, Dh) and Z['k'] (B, H_kv, L, Dh); "
                     "may add Z['attn_bias'] (H, L, L)",
        inputs=["X", "q", "k"],
        outputs=["Y", "q", "k"],
    ),
]

UNIT_INFO = {"role": "token_mixer", "search_space": {"head_dim": [32, 64], "n_kv_heads": [0, 1, 2]}}
