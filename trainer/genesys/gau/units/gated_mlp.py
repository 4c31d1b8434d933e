import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class GatedMLP(GAUBase):
    """Gated linear-unit MLP: down(act(gate(X)) * up(X)) (Shazeer 2020).

    `activation="silu"` is SwiGLU (LLaMA), `"gelu"` is GeGLU. The hidden width is
    `hidden_mult * embed_dim` rounded up to a multiple of 32; 8/3 keeps the
    parameter count of a 4x plain MLP.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 hidden_mult: float = 8 / 3, activation: str = "silu", bias: bool = False, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        acts = {"silu": F.silu, "gelu": F.gelu}
        assert activation in acts, f"activation must be one of {sorted(acts)}, got {activation!r}"
        self.act = acts[activation]
        hidden = 32 * -(-int(hidden_mult * embed_dim) // 32)
        self.gate_up_proj = nn.Linear(embed_dim, 2 * hidden, bias=bias, **self.factory_kwargs)
        self.down_proj = nn.Linear(hidden, embed_dim, bias=bias, **self.factory_kwargs)

    def _forward(self, X, **Z):
        gate, up = self.gate_up_proj(X).chunk(2, dim=-1)  # (B, L, hidden) each
        return self.down_proj(self.act(gate) * up)


CHILDREN_DECLARATIONS = []

UNIT_INFO = {
    "role": "channel_mixer",
    "search_space": {"hidden_mult": [2.0, 2.667, 3.0, 4.0], "activation": ["silu", "gelu"]},
}
