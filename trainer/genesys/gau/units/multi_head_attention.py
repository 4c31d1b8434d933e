import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class MultiHeadAttention(GAUBase):
    """Causal multi-head softmax self-attention (Vaswani et al. 2017).

    Queries and keys go through the `RotaryEmbedding` child (any unit following the
    position protocol works: it may rotate q/k and/or return an additive
    `attn_bias`). Uses fused scaled-dot-product attention. Quadratic in length.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, head_dim: int = 64, bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.n_heads = n_heads or max(1, embed_dim // head_dim)
        assert embed_dim % self.n_heads == 0, f"embed_dim {embed_dim} not divisible by n_heads {self.n_heads}"
        self.head_dim = embed_dim // self.n_heads
        self.qkv_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias, **self.factory_kwargs)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **self.factory_kwargs)
        self.rotary_emb = RotaryEmbedding(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                          **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        B, L, D = X.shape
        q, k, v = self.qkv_proj(X).view(B, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, L, Dh)
        Z["q"], Z["k"] = q, k
        _, Z = self.rotary_emb(X, **Z)
        q, k, bias = Z["q"], Z["k"], Z.get("attn_bias")
        if bias is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            causal = torch.ones(L, L, dtype=torch.bool, device=X.device).tril()
            mask = bias.to(q.dtype).masked_fill(~causal, float("-inf"))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.out_proj(y), {}


CHILDREN_DECLARATIONS = [
    UnitDecl(
        unitname="RotaryEmbedding",
        requirements="position protocol: rotates Z['q'] and Z['k'] (B, H, L, Dh); may add Z['attn_bias']",
        inputs=["X", "q", "k"],
        outputs=["Y", "q", "k"],
    ),
]

UNIT_INFO = {"role": "token_mixer", "search_space": {"head_dim": [32, 64], "bias": [False, True]}}
