import math

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class TopKMixtureOfExperts(GAUBase):
    """Sparse mixture of SwiGLU experts with top-k token routing (Shazeer et al. 2017;
    Switch Transformer, Fedus et al. 2021; Mixtral, Jiang et al. 2024).

    A router Linear gives each token logits over `n_experts` experts; the token goes to
    its `top_k` best experts and Y = sum_{e in top-k} w_e * SwiGLU_e(X), with w the
    softmax of the selected logits (renormalized over the k experts, as Mixtral). With
    top_k == 1 the weight is the full softmax probability of the chosen expert (as
    Switch), so the router still gets a gradient from the main loss. Routing is
    per token, with no capacity limit and no token dropping, so the unit is causal and
    position-wise. Experts are stored as batched tensors, gate_up_proj (E, D, 2H) and
    down_proj (E, H, D); the forward loops over the E experts (index_select of the
    tokens routed to e, index_add of their weighted outputs), never over tokens.

    Size: expert hidden H = `expert_hidden_mult * D` rounded up to a multiple of 16;
    the default 4/3 is half of GatedMLP's 8/3, so with top-2 each token uses as many
    parameters and FLOPs as one GatedMLP, while the unit holds n_experts/2 times
    GatedMLP's parameters (2x with the default 4 experts). Cost O(B L k D H).

    Z: writes `aux_loss`, the Switch-Transformer load-balancing loss
    aux_loss_coef * E * sum_e f_e * P_e (f_e: fraction of token-to-expert assignments
    to e, P_e: mean router probability of e; equals aux_loss_coef when balanced),
    added to any `aux_loss` already in Z, so it sums over blocks. The trainer may add
    Z["aux_loss"] to the LM loss to keep experts balanced; it is a regularizer over
    the batch and never feeds into Y.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_experts: int = 4, top_k: int = 2, expert_hidden_mult: float = 4 / 3,
                 aux_loss_coef: float = 0.01, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        assert 1 <= top_k <= n_experts, f"need 1 <= top_k <= n_experts, got top_k={top_k}, n_experts={n_experts}"
        self.n_experts, self.top_k, self.aux_loss_coef = n_experts, top_k, aux_loss_coef
        self.hidden = 16 * -(-int(expert_hidden_mult * embed_dim) // 16)
        self.router = nn.Linear(embed_dim, n_experts, bias=False, **self.factory_kwargs)
        self.gate_up_proj = nn.Parameter(torch.empty(n_experts, embed_dim, 2 * self.hidden, **self.factory_kwargs))
        self.down_proj = nn.Parameter(torch.empty(n_experts, self.hidden, embed_dim, **self.factory_kwargs))
        self._init_weights()

    def _init_weights(self):
        # Same scales as the LM gives a GatedMLP: std 0.02, scaled residual init on the output.
        n_block = max(1, self.block_loc[1])
        with torch.no_grad():
            nn.init.normal_(self.gate_up_proj, mean=0.0, std=0.02)
            nn.init.normal_(self.down_proj, mean=0.0, std=0.02 / math.sqrt(2 * n_block))

    def route(self, x):
        """x (N, D) -> router probabilities (N, E), top-k weights (N, k) and expert indices (N, k)."""
        logits = self.router(x)  # (N, E), routed in float32 at least
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        probs = logits.softmax(dim=-1)
        top_logits, top_idx = logits.topk(self.top_k, dim=-1)  # (N, k)
        if self.top_k == 1:
            weights = probs.gather(-1, top_idx)
        else:
            weights = top_logits.softmax(dim=-1)
        return probs, weights, top_idx

    def _forward(self, X, aux_loss=None):
        B, L, D = X.shape
        x = X.reshape(B * L, D)
        probs, weights, top_idx = self.route(x)
        weights = weights.to(x.dtype)
        out = torch.zeros_like(x)
        for e in range(self.n_experts):
            # Tokens routed to e (possibly none: empty matmuls keep every parameter in the graph).
            tok, slot = (top_idx == e).nonzero(as_tuple=True)
            gate, up = (x.index_select(0, tok) @ self.gate_up_proj[e]).chunk(2, dim=-1)  # (n_e, H) each
            y = (F.silu(gate) * up) @ self.down_proj[e]  # (n_e, D)
            out = out.index_add(0, tok, y * weights[tok, slot].unsqueeze(-1))
        # Switch-Transformer load balancing: fraction of assignments times mean probability.
        counts = torch.zeros(self.n_experts, device=x.device, dtype=probs.dtype)
        ones = torch.ones(top_idx.numel(), device=x.device, dtype=probs.dtype)
        counts = counts.index_add(0, top_idx.reshape(-1), ones)
        frac = counts / top_idx.numel()
        aux = self.aux_loss_coef * self.n_experts * (frac * probs.mean(dim=0)).sum()
        return out.reshape(B, L, D), {"aux_loss": aux if aux_loss is None else aux_loss + aux}


CHILDREN_DECLARATIONS = []

UNIT_INFO = {
    "role": "channel_mixer",
    "search_space": {"n_experts": [4, 8], "top_k": [1, 2], "expert_hidden_mult": [1.0, 1.333, 2.0]},
}
