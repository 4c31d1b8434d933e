"""RWKV-6 (Finch) seed: chunked WKV == token-by-token recurrence, stability, size, training."""

from __future__ import annotations

import math

import pytest
import torch

from genesys.gau import build_lm, design_parameters, load_design


def naive_wkv(r, k, v, lw, u):
    """y_t = r_t (S_{t-1} + diag(u) k_t^T v_t), S_t = diag(exp(lw_t)) S_{t-1} + k_t^T v_t."""
    B, H, L, K = r.shape
    S = torch.zeros(B, H, K, v.shape[-1], dtype=v.dtype)
    ys = []
    for t in range(L):
        kv = k[:, :, t, :, None] * v[:, :, t, None, :]  # (B, H, K, V)
        ys.append(torch.einsum("bhk,bhkv->bhv", r[:, :, t], S + u[None, :, :, None] * kv))
        S = torch.exp(lw[:, :, t])[..., None] * S + kv
    return torch.stack(ys, dim=2)


def random_inputs(B=2, H=2, L=45, K=8, V=6, strength=1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    r, k = (torch.randn(B, H, L, K, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(B, H, L, V, generator=g, dtype=dtype)
    logit = torch.randn(B, H, L, K, generator=g, dtype=dtype) * 2 - 1  # log(-log w) in ~[-5, 3]
    lw = -torch.exp(logit) * strength
    u = torch.randn(H, K, generator=g, dtype=dtype)
    return r, k, v, lw, u


@pytest.fixture
def time_mix(probe):
    return probe.build_unit("RWKV6TimeMix", d_model=64)


@pytest.mark.parametrize("L", [1, 7, 45, 70])
def test_chunked_wkv_matches_recurrence(time_mix, L):
    r, k, v, lw, u = random_inputs(L=L)
    ref = naive_wkv(r, k, v, lw, u)
    for C in (32, 16, 8, 12):
        out = time_mix._wkv(r, k, v, lw, u, chunk_size=C)
        torch.testing.assert_close(out, ref, atol=1e-9, rtol=1e-9, msg=lambda m, C=C: f"chunk {C}: {m}")


def test_chunked_wkv_extreme_decays(time_mix):
    """Strong decays (w = exp(-exp(3)) ~ 2e-9 per step) mixed with no decay at all."""
    r, k, v, lw, u = random_inputs(L=77)
    strong = torch.rand(lw.shape, generator=torch.Generator().manual_seed(2), dtype=lw.dtype) < 0.5
    lw = torch.where(strong, torch.full_like(lw, -math.exp(3.0)), lw)
    lw[:, :, 40:50] = 0.0  # w = 1
    ref = naive_wkv(r, k, v, lw, u)
    out = time_mix._wkv(r, k, v, lw, u)
    torch.testing.assert_close(out, ref, atol=1e-9, rtol=1e-9)
    # every step at the strongest decay, in float32: finite and still exact
    lw_all = torch.full_like(lw, -math.exp(3.0))
    ref = naive_wkv(r, k, v, lw_all, u)
    out32 = time_mix._wkv(*(t.float() for t in (r, k, v, lw_all, u)))
    assert torch.isfinite(out32).all()
    torch.testing.assert_close(out32.double(), ref, atol=1e-4, rtol=1e-4)


def test_chunked_wkv_float32_matches_float64(time_mix):
    r, k, v, lw, u = random_inputs(L=100)
    ref = naive_wkv(r, k, v, lw, u)
    out = time_mix._wkv(*(t.float() for t in (r, k, v, lw, u)))
    torch.testing.assert_close(out.double(), ref, atol=1e-4, rtol=1e-4)


def test_time_mix_invariant_to_chunk_size(probe):
    X = torch.randn(2, 50, 64, dtype=torch.float64)
    outs = []
    for C in (32, 16, 64):
        torch.manual_seed(0)
        unit = probe.build_unit("RWKV6TimeMix", d_model=64, chunk_size=C).double()
        outs.append(unit(X)[0])
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], atol=1e-10, rtol=1e-10)


def test_time_mix_finite_under_extreme_decay_logits(time_mix):
    X = torch.randn(2, 70, 64) * 3
    with torch.no_grad():
        for w0 in (3.0, 10.0, 80.0, -30.0):
            time_mix.time_decay.fill_(w0)
            Y, _ = time_mix(X)
            assert torch.isfinite(Y).all(), w0
    time_mix.time_decay.data.fill_(10.0)
    X.requires_grad_(True)
    Y, _ = time_mix(X)
    Y.sum().backward()
    assert torch.isfinite(X.grad).all()


def test_token_shift_is_causal_with_zero_start(probe):
    unit = probe.build_unit("RWKV6ChannelMix", d_model=64)
    X = torch.randn(1, 5, 64)
    # at t = 0 the shifted input is 0, so Y_0 depends only on X_0
    Y_full, _ = unit(X)
    Y_first, _ = unit(X[:, :1])
    torch.testing.assert_close(Y_full[:, :1], Y_first)


def test_rwkv6_seed_size_and_training(probe):
    design = load_design("rwkv6")
    gpt = design_parameters(load_design("gpt2"), 4096, 128, 4).non_embedding / 4
    rwkv = design_parameters(design, 4096, 128, 4).non_embedding / 4
    assert 0.7 * gpt <= rwkv <= 1.3 * gpt, (rwkv, gpt)
    lm = build_lm(design, vocab_size=64, d_model=64, n_block=2)
    first, last = probe.train_steps(lm, steps=25, vocab=64)
    assert last < first - 0.3, (first, last)
