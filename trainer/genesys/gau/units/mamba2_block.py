from genesys.gau import GAUBase, UnitDecl


class Mamba2Block(GAUBase):
    """Mamba-2 block: two pre-norm residual Mamba-2 mixers and no MLP.

    X = X + Mixer1(Norm1(X)); X = X + Mixer2(Norm2(X)), with RMSNorm norms and two
    independent `Mamba2Mixer` instances (Dao & Gu 2024, "Transformers are SSMs"; the
    layout of the Genesys Mamba2 seed, which pairs two mixer layers per block so a
    block is about the size of a Transformer block). Linear time in sequence length,
    constant-size recurrent state. No Z keys of its own.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.norm1 = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                             **self.factory_kwargs, **kwarg_all)
        self.mixer1 = Mamba2Mixer(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                  **self.factory_kwargs, **kwarg_all)
        self.norm2 = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                             **self.factory_kwargs, **kwarg_all)
        self.mixer2 = Mamba2Mixer(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                  **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        H, Z = self.norm1(X, **Z)
        M, Z = self.mixer1(H, **Z)
        X = X + M
        H, Z = self.norm2(X, **Z)
        M, Z = self.mixer2(H, **Z)
        return X + M, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="Mamba2Mixer", requirements="causal token mixer, (B, L, D) -> (B, L, D); used twice"),
    UnitDecl(unitname="RMSNorm", requirements="normalization over the channel dimension"),
]

UNIT_INFO = {"role": "block", "search_space": {}}
