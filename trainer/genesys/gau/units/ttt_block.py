from genesys.gau import GAUBase, UnitDecl


class TTTBlock(GAUBase):
    """Pre-norm TTT block (Sun et al. 2024): X + TTTLinear(Norm(X)), then X + MLP(Norm(X)).

    The Transformer backbone of the TTT paper with the attention replaced by a
    TTT-Linear layer: an RNN whose hidden state is a linear model trained by
    mini-batch gradient descent on a self-supervised loss while it reads the
    sequence. Linear in sequence length (a loop over mini-batches of 16 tokens);
    RMSNorm pre-norms and a gated (SwiGLU) MLP as in GPT2Block. No Z keys of its own.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.mixer_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                  **self.factory_kwargs, **kwarg_all)
        self.mixer = TTTLinear(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                               **self.factory_kwargs, **kwarg_all)
        self.mlp_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                **self.factory_kwargs, **kwarg_all)
        self.mlp = GatedMLP(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                            **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        H, Z = self.mixer_norm(X, **Z)
        A, Z = self.mixer(H, **Z)
        X = X + A
        H, Z = self.mlp_norm(X, **Z)
        M, Z = self.mlp(H, **Z)
        return X + M, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="TTTLinear", requirements="causal token mixer, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="GatedMLP", requirements="position-wise channel mixer, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="RMSNorm", requirements="normalization over the channel dimension"),
]

UNIT_INFO = {"role": "block", "search_space": {}}
