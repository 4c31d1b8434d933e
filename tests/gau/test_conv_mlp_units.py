"""ShortConv, HyenaConv, SquaredReLUMLP, TopKMixtureOfExperts against naive references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- ShortConv

@pytest.mark.parametrize("kernel_size", [2, 3, 4, 8])
@pytest.mark.parametrize("conv_silu", [False, True])
def test_short_conv_equals_per_position_sum(kernel_size, conv_silu, probe):
    unit = probe.build_unit("ShortConv", d_model=16, kernel_size=kernel_size, conv_silu=conv_silu).double()
    with torch.no_grad():
        unit.bias.normal_()
    X = torch.randn(2, 21, 16, dtype=torch.float64)
    Y, _ = unit(X)
    w, b = unit.weight[:, 0, :], unit.bias  # (D, K), (D,)
    ref = torch.zeros_like(X)
    for t in range(X.shape[1]):
        acc = b.expand(2, 16).clone()
        for j in range(kernel_size):
            s = t - (kernel_size - 1) + j
            if s >= 0:
                acc = acc + w[:, j] * X[:, s]
        ref[:, t] = F.silu(acc) if conv_silu else acc
    torch.testing.assert_close(Y, ref, atol=1e-10, rtol=1e-10)


def test_short_conv_has_depthwise_taps_only(probe):
    unit = probe.build_unit("ShortConv", d_model=32)
    assert sum(p.numel() for p in unit.parameters()) == 32 * 4 + 32


# ---------------------------------------------------------------- HyenaConv

def direct_causal_conv(u, h, bias):
    """O(L^2) reference: y[..., t] = sum_{s <= t} h[:, t - s] u[..., s] + bias u[..., t]."""
    L = u.shape[-1]
    y = torch.zeros_like(u)
    for t in range(L):
        y[..., t] = (h[:, : t + 1].flip(-1) * u[..., : t + 1]).sum(-1)
    return y + bias[:, None] * u


def hyena_reference(unit, X):
    """HyenaConv's forward, written out naively in the unit's dtype (no FFT, no F.conv1d)."""
    B, L, D = X.shape
    N, K = unit.order, unit.short_kernel
    z = unit.in_proj(X)  # (B, L, (N+1) D)
    w, b = unit.short_conv_weight[:, 0, :], unit.short_conv_bias
    zc = torch.zeros_like(z)
    for t in range(L):
        acc = b.expand(B, -1).clone()
        for j in range(K):
            s = t - (K - 1) + j
            if s >= 0:
                acc = acc + w[:, j] * z[:, s]
        zc[:, t] = acc
    v, *xs = zc.transpose(1, 2).split(D, dim=1)
    h = unit.filters(L, X.device)
    for i in range(N - 1):
        v = direct_causal_conv(xs[i] * v, h[i], unit.filter_bias[i])
    return unit.out_proj((xs[-1] * v).transpose(1, 2))


@pytest.mark.parametrize("L", [1, 37, 64, 300])
def test_hyena_fft_long_conv_equals_direct_convolution(L, probe):
    unit = probe.build_unit("HyenaConv", d_model=8)
    u = torch.randn(2, 5, L, dtype=torch.float64)
    h = torch.randn(5, L, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64)
    y = unit.long_conv(u, h, bias)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, direct_causal_conv(u, h, bias), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("order", [2, 3])
def test_hyena_forward_equals_naive_reference(order, probe):
    unit = probe.build_unit("HyenaConv", d_model=16, hyena_order=order).double()
    X = torch.randn(2, 45, 16, dtype=torch.float64)
    Y, _ = unit(X)
    torch.testing.assert_close(Y, hyena_reference(unit, X), atol=1e-10, rtol=1e-8)


def test_hyena_filter_depends_only_on_the_lag(probe):
    unit = probe.build_unit("HyenaConv", d_model=16)
    long, short = unit.filters(300, torch.device("cpu")), unit.filters(50, torch.device("cpu"))
    assert long.shape == (1, 16, 300)
    torch.testing.assert_close(long[..., :50], short, atol=1e-6, rtol=1e-6)
    assert torch.isfinite(long).all() and long.abs().sum() > 0


@pytest.mark.parametrize("L", [64, 300])
def test_hyena_is_causal_and_prefix_consistent(L, probe):
    unit = probe.build_unit("HyenaConv", d_model=32)
    X = torch.randn(2, L, 32)
    Y, _ = unit(X)
    for t in (0, 1, 31, L // 2, L - 2):
        X2 = X.clone()
        X2[:, t + 1:] = torch.randn_like(X2[:, t + 1:]) * 3
        Y2, _ = unit(X2)
        torch.testing.assert_close(Y2[:, : t + 1], Y[:, : t + 1], atol=1e-5, rtol=1e-4)
        Yp, _ = unit(X[:, : t + 1])  # a shorter sequence: same filters, same outputs
        torch.testing.assert_close(Yp, Y[:, : t + 1], atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- SquaredReLUMLP

def test_squared_relu_mlp(probe):
    unit = probe.build_unit("SquaredReLUMLP", d_model=32)
    assert unit.up_proj.out_features == 128 and unit.down_proj.in_features == 128
    X = torch.randn(3, 10, 32)
    Y, _ = unit(X)
    hidden = X @ unit.up_proj.weight.T
    ref = torch.where(hidden > 0, hidden * hidden, torch.zeros_like(hidden)) @ unit.down_proj.weight.T
    torch.testing.assert_close(Y, ref, atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in unit.parameters()) == 2 * 32 * 128


# ---------------------------------------------------------------- TopKMixtureOfExperts

def expert(unit, e, x):
    gate, up = (x @ unit.gate_up_proj[e]).chunk(2, dim=-1)
    return (F.silu(gate) * up) @ unit.down_proj[e]


def moe_reference(unit, X):
    """Token by token: softmax over the top-k router logits, weighted sum of those experts."""
    x = X.reshape(-1, X.shape[-1])
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        logits = x[n] @ unit.router.weight.T
        top = logits.topk(unit.top_k).indices
        w = logits[top].softmax(-1) if unit.top_k > 1 else logits.softmax(-1)[top]
        out[n] = sum(w[i] * expert(unit, int(e), x[n]) for i, e in enumerate(top))
    return out.reshape(X.shape)


def test_moe_with_all_experts_is_the_softmax_weighted_sum(probe):
    unit = probe.build_unit("TopKMixtureOfExperts", d_model=16, n_experts=4, top_k=4).double()
    X = torch.randn(2, 9, 16, dtype=torch.float64)
    Y, _ = unit(X)
    x = X.reshape(-1, 16)
    probs = (x @ unit.router.weight.T).softmax(-1)  # (N, E)
    ref = sum(probs[:, e : e + 1] * expert(unit, e, x) for e in range(4)).reshape(X.shape)
    torch.testing.assert_close(Y, ref, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_moe_equals_per_token_top_k_reference(top_k, probe):
    unit = probe.build_unit("TopKMixtureOfExperts", d_model=16, n_experts=4, top_k=top_k).double()
    X = torch.randn(2, 13, 16, dtype=torch.float64)
    Y, _ = unit(X)
    torch.testing.assert_close(Y, moe_reference(unit, X), atol=1e-12, rtol=1e-10)


def test_moe_routes_each_token_to_exactly_k_experts(probe):
    unit = probe.build_unit("TopKMixtureOfExperts", d_model=32, n_experts=4, top_k=2).double()
    X = torch.randn(4, 32, 32, dtype=torch.float64)
    x = X.reshape(-1, 32)
    _, weights, idx = unit.route(x)
    assert idx.shape == (128, 2) and (idx[:, 0] != idx[:, 1]).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(128, dtype=torch.float64))
    Y, _ = unit(X)
    # Scrambling one expert changes exactly the tokens routed to it.
    for e in range(4):
        with torch.no_grad():
            saved = unit.down_proj[e].clone()
            unit.down_proj[e].normal_()
        Y2, _ = unit(X)
        with torch.no_grad():
            unit.down_proj[e].copy_(saved)
        changed = (Y2 - Y).reshape(-1, 32).abs().amax(-1) > 1e-12
        assert torch.equal(changed, (idx == e).any(-1)), f"expert {e}"


def test_moe_aux_loss(probe):
    unit = probe.build_unit("TopKMixtureOfExperts", d_model=32, aux_loss_coef=0.01)
    X = torch.randn(4, 64, 32)
    Y, Z = unit(X)
    aux = Z["aux_loss"]
    assert aux.dim() == 0 and torch.isfinite(aux) and aux > 0
    # Switch loss: coef * E * sum_e f_e P_e, recomputed here.
    probs, _, idx = unit.route(X.reshape(-1, 32))
    frac = torch.bincount(idx.reshape(-1), minlength=4).float() / idx.numel()
    torch.testing.assert_close(aux, 0.01 * 4 * (frac * probs.mean(0)).sum())
    # Added to an aux_loss already in Z (e.g. from earlier blocks).
    _, Z2 = unit(X, aux_loss=torch.tensor(1.5))
    torch.testing.assert_close(Z2["aux_loss"], 1.5 + aux)
    # It trains the router.
    aux.backward()
    assert unit.router.weight.grad is not None and unit.router.weight.grad.abs().sum() > 0


def test_moe_size_is_about_n_experts_over_2_gated_mlps(probe):
    moe = probe.build_unit("TopKMixtureOfExperts", d_model=128)
    mlp = probe.build_unit("GatedMLP", d_model=128)
    ratio = sum(p.numel() for p in moe.parameters()) / sum(p.numel() for p in mlp.parameters())
    assert 1.8 < ratio < 2.3, ratio
