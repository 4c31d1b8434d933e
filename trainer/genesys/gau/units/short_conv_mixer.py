from genesys.gau import GAUBase, UnitDecl


class ShortConvMixer(GAUBase):
    """A token mixer behind a short causal convolution: Y = Mixer(X + ShortConv(X)).

    Wraps any token mixer (the `MultiHeadAttention` child stands for it) with the
    local mixing stage of H3, Hyena and Mamba (Fu et al. 2023; Gu & Dao 2023): a
    depthwise causal conv over the last few tokens (`ShortConv` child) whose output
    is added to X before the mixer, so the mixer sees n-gram features while the skip
    keeps the current token's features intact. Causal because both parts are. Costs
    the mixer's cost plus O(B L D K); adds D*K (+ D) parameters. Z flows through
    the conv, then the mixer; no Z keys of its own.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.conv = ShortConv(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                              **self.factory_kwargs, **kwarg_all)
        self.mixer = MultiHeadAttention(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                        **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        C, Z = self.conv(X, **Z)
        Y, Z = self.mixer(X + C, **Z)
        return Y, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="ShortConv",
             requirements="depthwise causal convolution over a few tokens, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="MultiHeadAttention", requirements="the wrapped causal token mixer, (B, L, D) -> (B, L, D)"),
]

UNIT_INFO = {"role": "token_mixer", "search_space": {}}
