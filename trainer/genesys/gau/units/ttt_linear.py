import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class TTTLinear(GAUBase):
    """TTT-Linear token mixer (Sun et al. 2024, "Learning to (Learn at Test Time):
    RNNs with Expressive Hidden States").

    The hidden state of this RNN is the weight of an inner model. Per head, the
    inner model is f(x) = x + LN(x W + b) with W (Dh x Dh), b (Dh) and a learnable
    inner LayerNorm. W and b start from learned parameters and are trained *at test
    time*, while reading the sequence, by gradient descent on the self-supervised
    reconstruction loss of each token

        l_s(W, b) = 0.5 * || LN(k_s W + b) - (v_s - k_s) ||^2

    where k = training view, v = label view, q = test view of the token (three
    linear projections of X). Outputs are z_t = q_t + LN(q_t W_t + b_t).

    Mini-batch TTT (b = `ttt_mini_batch`, 16): the sequence is cut into mini-batches;
    every gradient in a mini-batch is taken at the weights (W0, b0) reached at the
    end of the previous mini-batch, and the output at token t uses the gradients of
    the tokens s <= t of its mini-batch only:
        W_t = W0 - c_t * sum_{s<=t} eta_s * grad_W l_s(W0, b0)   (same for b)
    eta_s = ttt_base_lr * sigmoid(lr_proj(x_s))_head / Dh is a learned per-token,
    per-head inner learning rate; c_t = max(1/(t+1) + token_idx_bias[t], 0), t the
    index inside the mini-batch, is the learnable mean-over-tokens scale of the
    official implementation. The weights move once per mini-batch (by the t = b-1
    update). Computed in the dual form: with G = dl/dZ (closed-form LayerNorm + L2
    backward), Z_bar = q W0 + b0 - (tril(eta) * (q k^T + 1)) G for the whole
    mini-batch, so no per-token loop and no per-token weight matrices. A Python loop
    runs over the L/b mini-batches. The tail is zero-padded at the END when L is not
    a multiple of b (padding only follows real tokens, so it never reaches them).

    Positions: the `RotaryEmbedding` child (position protocol) rotates q and k with
    their index inside the mini-batch (0..b-1; the protocol's Z['q'], Z['k'] are
    handed over as (B, H * n_chunks, b, Dh)), as the official code does
    (position_ids % mini_batch_size). Any `attn_bias` a position unit returns is
    ignored (there is no attention score matrix).

    Output: post LayerNorm over D, gate gelu(g_proj(X)) (if `ttt_gate`), out_proj.
    Complexity: O(L * b * D + L * D * Dh) time, O(B * H * Dh^2) state; linear in L.
    Reads Z['q'], Z['k'] only through its position child; writes no Z keys.
    """

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None,
                 n_heads: int = 0, head_dim: int = 64, ttt_mini_batch: int = 16,
                 ttt_base_lr: float = 1.0, ttt_gate: bool = True, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.n_heads = n_heads or max(1, embed_dim // head_dim)
        assert embed_dim % self.n_heads == 0, f"embed_dim {embed_dim} not divisible by n_heads {self.n_heads}"
        self.head_dim = embed_dim // self.n_heads
        assert self.head_dim % 2 == 0, "head_dim must be even for rotary positions"
        self.mini_batch = int(ttt_mini_batch)
        self.base_lr = float(ttt_base_lr)
        H, Dh = self.n_heads, self.head_dim
        self.qkv_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=False, **self.factory_kwargs)
        # learnable inner learning rate: one gate per head from the full token
        self.lr_proj = nn.Linear(embed_dim, H, bias=True, **self.factory_kwargs)
        # initial inner weights (the hidden state at the start of the sequence)
        self.W_init = nn.Parameter(torch.randn(H, Dh, Dh, **self.factory_kwargs) * 0.02)
        self.b_init = nn.Parameter(torch.zeros(H, 1, Dh, **self.factory_kwargs))
        # inner LayerNorm of the inner model, per head
        self.ttt_norm_weight = nn.Parameter(torch.ones(H, Dh, **self.factory_kwargs))
        self.ttt_norm_bias = nn.Parameter(torch.zeros(H, Dh, **self.factory_kwargs))
        # learnable correction of the 1/(t+1) per-position step scale
        self.token_idx_bias = nn.Parameter(torch.zeros(self.mini_batch, **self.factory_kwargs))
        self.post_norm = nn.LayerNorm(embed_dim, eps=1e-6, **self.factory_kwargs)
        self.use_gate = bool(ttt_gate)
        if self.use_gate:
            self.g_proj = nn.Linear(embed_dim, embed_dim, bias=False, **self.factory_kwargs)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=False, **self.factory_kwargs)
        self.rotary_emb = RotaryEmbedding(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all,
                                          **self.factory_kwargs, **kwarg_all)

    def _init_weights(self):
        with torch.no_grad():
            self.W_init.normal_(0.0, 0.02)
            self.b_init.zero_()
            self.ttt_norm_weight.fill_(1.0)
            self.ttt_norm_bias.zero_()
            self.token_idx_bias.zero_()

    @staticmethod
    def _ln_l2_grad(Zk, w2, c, eps=1e-6):
        """d/dZ of 0.5 * ||LN(Z) * w + b - target||^2 row-wise, given w2 = w * w and
        c = (b - target) * w (so the upstream gradient times w is x_hat * w2 + c)."""
        xc = Zk - Zk.mean(dim=-1, keepdim=True)
        inv = torch.rsqrt((xc * xc).mean(dim=-1, keepdim=True) + eps)
        x_hat = xc * inv
        g_hat = x_hat * w2 + c
        return (g_hat - g_hat.mean(dim=-1, keepdim=True)
                - x_hat * (g_hat * x_hat).mean(dim=-1, keepdim=True)) * inv

    @staticmethod
    def _ln(Zq, w, b, eps=1e-6):
        xc = Zq - Zq.mean(dim=-1, keepdim=True)
        return xc * torch.rsqrt((xc * xc).mean(dim=-1, keepdim=True) + eps) * w + b

    def _forward(self, X, **Z):
        B, L, D = X.shape
        H, Dh, bs = self.n_heads, self.head_dim, self.mini_batch
        nc = -(-L // bs)
        pad = nc * bs - L
        qkv = F.pad(self.qkv_proj(X), (0, 0, 0, pad))  # (B, Lp, 3D), zeros after the end
        q, k, v = qkv.view(B, nc, bs, 3, H, Dh).permute(3, 0, 4, 1, 2, 5)  # (B, H, nc, bs, Dh)
        # positions inside the mini-batch: hand the protocol (B, H * nc, bs, Dh)
        Z["q"], Z["k"] = q.reshape(B, H * nc, bs, Dh), k.reshape(B, H * nc, bs, Dh)
        _, Z = self.rotary_emb(X, **Z)
        q, k = Z["q"].reshape(B, H, nc, bs, Dh), Z["k"].reshape(B, H, nc, bs, Dh)

        # inner learning rates: eta[t, s] = c_t * eta_s for s <= t, else 0
        lr = F.pad(self.lr_proj(X), (0, 0, 0, pad)).view(B, nc, bs, H).permute(0, 3, 1, 2)  # (B, H, nc, bs)
        lr_eta = self.base_lr * torch.sigmoid(lr) / Dh
        idx = torch.arange(1, bs + 1, device=X.device, dtype=X.dtype)
        token_eta = torch.clamp_min(1.0 / idx + self.token_idx_bias, 0.0)  # (bs,)
        eta = torch.tril(token_eta[:, None] * lr_eta[..., None, :])  # (B, H, nc, bs, bs)
        # dual form for a whole mini-batch: Z_bar = q W0 + b0 - (eta * (q k^T + 1)) @ G
        M = eta * (q @ k.transpose(-1, -2) + 1.0)  # (B, H, nc, bs, bs)
        last = eta[..., -1:, :]  # (B, H, nc, 1, bs): the full mini-batch step (row t = bs - 1)
        upd = (last.transpose(-1, -2) * k).transpose(-1, -2)  # (B, H, nc, Dh, bs)
        w = self.ttt_norm_weight.view(1, H, 1, 1, Dh)
        w2 = (w * w)[:, :, 0]
        c_all = (self.ttt_norm_bias.view(1, H, 1, 1, Dh) - (v - k)) * w  # target = v - k
        W = self.W_init.unsqueeze(0).expand(B, H, Dh, Dh)
        bvec = self.b_init.unsqueeze(0).expand(B, H, 1, Dh)
        # unbind once (per-chunk slicing would make backward fill a full-size zero tensor per chunk)
        k_c, c_c, upd_c, last_c = k.unbind(2), c_all.unbind(2), upd.unbind(2), last.unbind(2)
        Ws, bvecs, Gs = [], [], []
        for ci in range(nc):
            Ws.append(W)
            bvecs.append(bvec)
            G = self._ln_l2_grad(k_c[ci] @ W + bvec, w2, c_c[ci])  # dl_s/dZ_s at the chunk's W0
            Gs.append(G)
            if ci + 1 < nc:
                W = W - upd_c[ci] @ G
                bvec = bvec - last_c[ci] @ G
        Zbar = q @ torch.stack(Ws, dim=2) + torch.stack(bvecs, dim=2) - M @ torch.stack(Gs, dim=2)
        out = q + self._ln(Zbar, w, self.ttt_norm_bias.view(1, H, 1, 1, Dh))
        y = out.reshape(B, H, nc * bs, Dh)[:, :, :L].transpose(1, 2).reshape(B, L, D)
        y = self.post_norm(y)
        if self.use_gate:
            y = F.gelu(self.g_proj(X), approximate="tanh") * y
        return self.out_proj(y), {}


CHILDREN_DECLARATIONS = [
    UnitDecl(
        unitname="RotaryEmbedding",
        requirements="position protocol: rotates Z['q'] and Z['k'] (B, H', L', Dh) along dim -2 "
                     "(here L' = the mini-batch, so positions are indices inside it); attn_bias is ignored",
        inputs=["X", "q", "k"],
        outputs=["Y", "q", "k"],
    ),
]

UNIT_INFO = {
    "role": "token_mixer",
    "search_space": {
        "head_dim": [32, 64],
        "ttt_mini_batch": [8, 16, 32],
        "ttt_base_lr": [0.1, 1.0],
        "ttt_gate": [True, False],
    },
}
