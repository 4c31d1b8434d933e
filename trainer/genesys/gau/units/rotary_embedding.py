import torch

from genesys.gau import GAUBase, UnitDecl


class RotaryEmbedding(GAUBase):
    """Rotary position embedding (RoPE, Su et al. 2021) for attention queries and keys.

    Position protocol (shared by all `position` units): the caller puts queries and
    keys in Z as `q` and `k`, shaped (B, H, L, Dh), calls `_, Z = self.pos(X, **Z)`
    and reads back `Z["q"]`, `Z["k"]` (and `Z["attn_bias"]`, an additive (H, L, L)
    score bias, when a unit provides one; RoPE does not). X passes through unchanged.
    Rotates channel pairs (i, i + Dh/2) by angle pos * base^(-2i/Dh).
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, rope_base: float = 10000.0, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.rope_base = rope_base
        self._tables = {}  # (L, Dh, device, dtype) -> (cos, sin); recomputed, never saved

    def _cos_sin(self, L, dh, device, dtype):
        key = (L, dh, device, dtype)
        if key not in self._tables:
            inv_freq = self.rope_base ** (-torch.arange(0, dh, 2, device=device, dtype=torch.float32) / dh)
            angles = torch.outer(torch.arange(L, device=device, dtype=torch.float32), inv_freq)  # (L, Dh/2)
            angles = torch.cat([angles, angles], dim=-1)  # (L, Dh)
            self._tables = {key: (angles.cos().to(dtype), angles.sin().to(dtype))}
        return self._tables[key]

    def _rotate(self, t):
        cos, sin = self._cos_sin(t.shape[-2], t.shape[-1], t.device, t.dtype)
        t1, t2 = t.chunk(2, dim=-1)
        return t * cos + torch.cat([-t2, t1], dim=-1) * sin

    def _forward(self, X, q=None, k=None):
        Z_ = {}
        if q is not None:
            Z_["q"] = self._rotate(q)
        if k is not None:
            Z_["k"] = self._rotate(k)
        return X, Z_


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "position", "search_space": {"rope_base": [10000.0, 500000.0]}}
