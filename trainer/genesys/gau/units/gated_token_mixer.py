import torch
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class GatedTokenMixer(GAUBase):
    """A token mixer with a data-dependent output gate: Y = Mixer(X) * sigmoid(W_g X).

    Wraps any token mixer (the `MultiHeadAttention` child stands for it) with an
    elementwise sigmoid gate computed from the same input, per token and channel,
    like the output gates of GLA, RetNet and Mamba (there with SiLU). The gate lets a
    token damp what the mixer writes into the residual stream (e.g. attention sinks)
    and adds a multiplicative non-linearity after a linear mixer. The gate depends on
    X at the same position only, so the unit is causal when the mixer is. Adds D^2
    (+ D) parameters and O(B L D^2) time. Z flows through the mixer.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, gate_bias: bool = True, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.gate_proj = nn.Linear(embed_dim, embed_dim, bias=gate_bias, **self.factory_kwargs)
        self.mixer = MultiHeadAttention(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                        **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        Y, Z = self.mixer(X, **Z)
        return Y * torch.sigmoid(self.gate_proj(X)), Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="MultiHeadAttention", requirements="the wrapped causal token mixer, (B, L, D) -> (B, L, D)"),
]

UNIT_INFO = {"role": "token_mixer", "search_space": {"gate_bias": [False, True]}}
