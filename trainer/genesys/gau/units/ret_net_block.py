from genesys.gau import GAUBase, UnitDecl


class RetNetBlock(GAUBase):
    """RetNet block (Sun et al. 2023, "Retentive Network: A Successor to Transformer").

    Pre-norm residual layout: X = X + MSR(Norm(X)); X = X + FFN(Norm(X)), with
    multi-scale retention (`MultiScaleRetention`: per-head fixed exponential decay,
    chunkwise recurrent, linear in sequence length) as the token mixer, a gated
    (SwiGLU) MLP as the FFN and RMSNorm as the pre-norms. Reads/writes no Z keys
    itself; Z flows through its children.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.retention_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                      **self.factory_kwargs, **kwarg_all)
        self.retention = MultiScaleRetention(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                             **self.factory_kwargs, **kwarg_all)
        self.ffn_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                **self.factory_kwargs, **kwarg_all)
        self.ffn = GatedMLP(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                            **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        H, Z = self.retention_norm(X, **Z)
        R, Z = self.retention(H, **Z)
        X = X + R
        H, Z = self.ffn_norm(X, **Z)
        M, Z = self.ffn(H, **Z)
        return X + M, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="MultiScaleRetention",
             requirements="causal token mixer with per-head decaying retention, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="GatedMLP", requirements="position-wise channel mixer, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="RMSNorm", requirements="normalization over the channel dimension"),
]

UNIT_INFO = {"role": "block", "search_space": {}}
