from genesys.gau import GAUBase, UnitDecl


class GPT2Block(GAUBase):
    """Pre-norm Transformer block: X + Attn(Norm(X)), then X + MLP(Norm(X)).

    The GPT-2 layout (Radford et al. 2019) with today's defaults: RMSNorm, rotary
    positions inside the attention, a gated (SwiGLU) MLP, no biases.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.attn_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                 **self.factory_kwargs, **kwarg_all)
        self.attn = MultiHeadAttention(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                       **self.factory_kwargs, **kwarg_all)
        self.mlp_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                **self.factory_kwargs, **kwarg_all)
        self.mlp = GatedMLP(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                            **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        H, Z = self.attn_norm(X, **Z)
        A, Z = self.attn(H, **Z)
        X = X + A
        H, Z = self.mlp_norm(X, **Z)
        M, Z = self.mlp(H, **Z)
        return X + M, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="MultiHeadAttention", requirements="causal token mixer, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="GatedMLP", requirements="position-wise channel mixer, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="RMSNorm", requirements="normalization over the channel dimension"),
]

UNIT_INFO = {"role": "block", "search_space": {}}
