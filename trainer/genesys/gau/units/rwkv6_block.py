from genesys.gau import GAUBase, UnitDecl


class RWKV6Block(GAUBase):
    """RWKV-6 "Finch" block: X + TimeMix(Norm(X)), then X + ChannelMix(Norm(X)).

    Reference: Peng et al. 2024, "Eagle and Finch: RWKV with Matrix-Valued States and
    Dynamic Recurrence" (arXiv 2404.05892). The time mixer is an attention-free linear
    recurrence with a matrix state per head, data-dependent token shift and
    data-dependent per-channel decay (RWKV6TimeMix); the channel mixer is RWKV's
    token-shifted squared-ReLU MLP with a receptance gate (RWKV6ChannelMix). RMSNorm
    replaces RWKV's LayerNorm as pre-norm. Linear in sequence length; constant-size
    recurrent state at inference. Reads and writes no Z keys itself.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.time_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                 **self.factory_kwargs, **kwarg_all)
        self.time_mix = RWKV6TimeMix(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                     **self.factory_kwargs, **kwarg_all)
        self.channel_norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                    **self.factory_kwargs, **kwarg_all)
        self.channel_mix = RWKV6ChannelMix(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                           **self.factory_kwargs, **kwarg_all)

    def _forward(self, X, **Z):
        H, Z = self.time_norm(X, **Z)
        A, Z = self.time_mix(H, **Z)
        X = X + A
        H, Z = self.channel_norm(X, **Z)
        M, Z = self.channel_mix(H, **Z)
        return X + M, Z


CHILDREN_DECLARATIONS = [
    UnitDecl(unitname="RWKV6TimeMix",
             requirements="causal token mixer (linear recurrence with data-dependent decay), (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="RWKV6ChannelMix",
             requirements="channel mixer with causal token shift, (B, L, D) -> (B, L, D)"),
    UnitDecl(unitname="RMSNorm", requirements="normalization over the channel dimension"),
]

UNIT_INFO = {"role": "block", "search_space": {}}
