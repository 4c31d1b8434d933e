"""TTT-Linear (Sun et al. 2024): the dual mini-batch form equals a naive primal reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genesys.gau import build_lm, design_parameters, load_design


def _rope(t, pos, base=10000.0):
    """Half-split RoPE at explicit positions; t (B, H, L, Dh), pos (L,).

    Angles in float32 like RotaryEmbedding's tables (else they differ by ~1e-8).
    """
    dh = t.shape[-1]
    inv_freq = base ** (-torch.arange(0, dh, 2, dtype=torch.float32) / dh)
    ang = torch.outer(pos.to(torch.float32), inv_freq)
    ang = torch.cat([ang, ang], dim=-1)
    cos, sin = ang.cos().to(t.dtype), ang.sin().to(t.dtype)
    t1, t2 = t.chunk(2, dim=-1)
    return t * cos + torch.cat([-t2, t1], dim=-1) * sin


def _inner_ln(z, w, b, eps=1e-6):
    mu = z.mean(-1, keepdim=True)
    var = z.var(-1, keepdim=True, unbiased=False)
    return (z - mu) / torch.sqrt(var + eps) * w + b


def primal_reference(unit, X):
    """Token by token inside each mini-batch, with autograd for the inner gradients.

    For token t of a mini-batch starting at weights (W0, b0):
        W_t = W0 - c_t * sum_{s <= t} eta_s * dl_s/dW (W0, b0)   (same for b)
        out_t = q_t + LN(q_t W_t + b_t)
    and the next mini-batch starts from the weights of its last token.
    """
    B, L, D = X.shape
    H, Dh, bs = unit.n_heads, unit.head_dim, unit.mini_batch
    q, k, v = unit.qkv_proj(X).view(B, L, 3, H, Dh).permute(2, 0, 3, 1, 4)  # (B, H, L, Dh)
    pos = torch.arange(L) % bs  # positions inside the mini-batch
    q, k = _rope(q, pos), _rope(k, pos)
    eta = unit.base_lr * torch.sigmoid(unit.lr_proj(X)).permute(0, 2, 1) / Dh  # (B, H, L)
    ln_w, ln_b = unit.ttt_norm_weight.view(1, H, 1, Dh), unit.ttt_norm_bias.view(1, H, 1, Dh)
    W0 = unit.W_init.unsqueeze(0).repeat(B, 1, 1, 1)  # (B, H, Dh, Dh)
    b0 = unit.b_init.unsqueeze(0).repeat(B, 1, 1, 1)  # (B, H, 1, Dh)
    outs = []
    for start in range(0, L, bs):
        end = min(start + bs, L)
        gW, gb = [], []
        for s in range(start, end):
            z = k[:, :, s : s + 1] @ W0 + b0
            loss = 0.5 * ((_inner_ln(z, ln_w, ln_b) - (v - k)[:, :, s : s + 1]) ** 2).sum()
            dW, db = torch.autograd.grad(loss, (W0, b0), create_graph=True)
            gW.append(eta[:, :, s, None, None] * dW)
            gb.append(eta[:, :, s, None, None] * db)
        for t in range(start, end):
            i = t - start
            c = torch.clamp_min(1.0 / (i + 1) + unit.token_idx_bias[i], 0.0)
            W_t = W0 - c * sum(gW[: i + 1])
            b_t = b0 - c * sum(gb[: i + 1])
            z = q[:, :, t : t + 1] @ W_t + b_t
            outs.append(q[:, :, t : t + 1] + _inner_ln(z, ln_w, ln_b))
        W0, b0 = W_t, b_t  # weights after the whole mini-batch (last token's)
    y = torch.cat(outs, dim=2).transpose(1, 2).reshape(B, L, D)
    y = unit.post_norm(y)
    if unit.use_gate:
        y = F.gelu(unit.g_proj(X), approximate="tanh") * y
    return unit.out_proj(y)


def _unit(probe, **kw):
    unit = probe.build_unit("TTTLinear", d_model=64, head_dim=32, **kw).double()
    with torch.no_grad():  # move every parameter off its init so each one matters
        unit.W_init.normal_(0.0, 0.2)
        unit.b_init.normal_(0.0, 0.3)
        unit.ttt_norm_weight.uniform_(0.5, 1.5)
        unit.ttt_norm_bias.normal_(0.0, 0.3)
        unit.token_idx_bias.uniform_(-0.05, 0.05)
        unit.lr_proj.bias.normal_(0.0, 1.0)
    return unit


@pytest.mark.parametrize("L", [5, 37])
def test_dual_form_equals_primal_reference(probe, L):
    unit = _unit(probe, ttt_base_lr=20.0)
    X = torch.randn(2, L, 64, dtype=torch.float64, requires_grad=True)
    Y, _ = unit(X)
    R = primal_reference(unit, X)
    torch.testing.assert_close(Y, R, atol=1e-8, rtol=1e-8)
    # outer gradients through the closed-form inner gradient match autograd's too
    cot = torch.randn_like(Y)
    params = [X] + list(unit.parameters())
    gY = torch.autograd.grad((Y * cot).sum(), params)
    gR = torch.autograd.grad((R * cot).sum(), params)
    for (name, _), a, b in zip([("X", None)] + list(unit.named_parameters()), gY, gR, strict=True):
        torch.testing.assert_close(a, b, atol=1e-8, rtol=1e-6, msg=lambda m, n=name: f"grad of {n}: {m}")


def test_inner_learning_changes_the_output(probe):
    """The reference comparison is not vacuous: test-time updates move the output."""
    unit = _unit(probe, ttt_base_lr=20.0)
    X = torch.randn(2, 37, 64, dtype=torch.float64)
    with torch.no_grad():
        Y, _ = unit(X)
        unit.base_lr = 0.0
        Y0, _ = unit(X)
    assert (Y - Y0).abs().max() > 1e-2


def test_no_future_gradient_inside_a_mini_batch(probe):
    """Changing token t+1.. of the same mini-batch never moves outputs <= t."""
    unit = _unit(probe, ttt_base_lr=20.0)
    X = torch.randn(1, 16, 64, dtype=torch.float64)
    with torch.no_grad():
        Y, _ = unit(X)
        for t in (0, 3, 9, 14):
            X2 = X.clone()
            X2[:, t + 1 :] += torch.randn_like(X2[:, t + 1 :])
            Y2, _ = unit(X2)
            torch.testing.assert_close(Y2[:, : t + 1], Y[:, : t + 1], atol=1e-10, rtol=0)
            assert (Y2[:, t + 1 :] - Y[:, t + 1 :]).abs().max() > 1e-6


def test_ttt_seed_builds_sizes_and_trains(probe):
    design = load_design("ttt")
    assert design.spec.tree.root == "TTTBlock"
    assert set(design.spec.tree.units) == {"TTTBlock", "TTTLinear", "RotaryEmbedding", "GatedMLP", "RMSNorm"}
    ttt = design_parameters(design, 4096, 128, 4).non_embedding
    gpt = design_parameters(load_design("gpt2"), 4096, 128, 4).non_embedding
    assert 0.7 < ttt / gpt < 1.3, (ttt, gpt)
    lm = build_lm(design, vocab_size=64, d_model=64, n_block=2)
    first, last = probe.train_steps(lm, steps=25, vocab=64, seq_len=40)  # 40: not a multiple of 16
    assert last == last and last < first - 0.3, (first, last)
