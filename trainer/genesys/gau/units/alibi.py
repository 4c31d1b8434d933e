import torch

from genesys.gau import GAUBase, UnitDecl


class ALiBi(GAUBase):
    """Attention with Linear Biases (ALiBi, Press et al. 2022) as a position unit.

    Follows the position protocol (see RotaryEmbedding): the caller puts queries and
    keys in Z as `q` and `k` (B, H, L, Dh) and calls `_, Z = self.pos(X, **Z)`.
    ALiBi leaves q and k unchanged and writes Z["attn_bias"], an additive score bias
    of shape (H, L, L): bias[h, i, j] = -m_h * |i - j| with head slopes
    m_h = 2^(-8 (h + 1) / H), h = 0..H-1, H read from q.shape[1]. The caller applies
    the causal mask (entries j > i are not -inf). No parameters; the table is cached
    per (H, L, device, dtype). Costs O(H L^2) memory for the bias. X passes through.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self._tables = {}  # (H, L, device, dtype) -> bias; recomputed, never saved

    def _bias(self, H, L, device, dtype):
        key = (H, L, device, dtype)
        if key not in self._tables:
            slopes = 2.0 ** (-8.0 * torch.arange(1, H + 1, device=device, dtype=torch.float32) / H)  # (H,)
            pos = torch.arange(L, device=device, dtype=torch.float32)
            dist = (pos[:, None] - pos[None, :]).abs()  # (L, L)
            self._tables = {key: (-slopes[:, None, None] * dist).to(dtype)}
        return self._tables[key]

    def _forward(self, X, q=None, k=None):
        if q is None:
            return X, {}
        return X, {"attn_bias": self._bias(q.shape[1], q.shape[2], q.device, q.dtype)}


CHILDREN_DECLARATIONS = []

UNIT_INFO = {"role": "position", "search_space": {}}
