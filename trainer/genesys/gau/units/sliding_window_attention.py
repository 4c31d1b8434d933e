import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class SlidingWindowAttention(GAUBase):
    """Causal multi-head softmax attention over a sliding window (local attention).

    Position t attends to the last `window` tokens, s in [t - window + 1, t]
    (itself included), as in Longformer / Mistral-style local attention (Beltagy et
    al. 2020; Jiang et al. 2023). Tokens further back are invisible to this layer;
    stacking layers widens the receptive field by `window` per layer.

    Queries and keys go through the `RotaryEmbedding` child (position protocol:
    Z["q"], Z["k"] (B, H, L, Dh), optional additive Z["attn_bias"] (H, L, L)).
    Implemented with a banded boolean/additive mask and fused scaled-dot-product
    attention: time O(L^2 * D) here (O(L * window * D) with a blocked kernel), memory
    O(L^2) for the mask.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, head_dim: int = 64, window: int = 64, bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.n_heads = n_heads or max(1, embed_dim // head_dim)
        assert embed_dim % self.n_heads == 0, f"embed_dim {embed_dim} not divisible by n_heads {self.n_heads}"
        assert window >= 1, f"window must be >= 1, got {window}"
        self.head_dim = embed_dim // self.n_heads
        self.window = window
        self.qkv_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias, **self.factory_kwargs)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **self.factory_kwargs)
        self.rotary_emb = RotaryEmbedding(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                          **self.factory_kwargs, **kwarg_all)

    def _band(self, L, device):
        pos = torch.arange(L, device=device)
        rel = pos[:, None] - pos[None, :]  # t - s
        return (rel >= 0) & (rel < self.window)  # (L, L), True = may attend

    def _forward(self, X, **Z):
        B, L, D = X.shape
        q, k, v = self.qkv_proj(X).view(B, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, L, Dh)
        Z["q"], Z["k"] = q, k
        _, Z = self.rotary_emb(X, **Z)
        q, k, bias = Z["q"], Z["k"], Z.get("attn_bias")
        band = self._band(L, X.device)
        if bias is None:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
        else:
            mask = bias.to(q.dtype).masked_fill(~band, float("-inf"))
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

UNIT_INFO = {"role": "token_mixer", "search_space": {"window": [32, 64, 128, 256], "head_dim": [32, 64]}}
