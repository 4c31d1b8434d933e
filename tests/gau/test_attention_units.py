"""Attention-family units against naive references: GQA, sliding window, ALiBi, LayerNorm, GLA."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau import compile_design, get_unit


def naive_attention(q, k, v, allowed, bias=None):
    """Softmax attention, one head at a time; q (B, H, L, Dh), k/v (B, Hkv, L, Dh), allowed (L, L)."""
    H, Hkv = q.shape[1], k.shape[1]
    outs = []
    for h in range(H):
        kh, vh = k[:, h * Hkv // H], v[:, h * Hkv // H]  # query head h reads kv head h // (H / Hkv)
        s = q[:, h] @ kh.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if bias is not None:
            s = s + bias[h]
        s = s.masked_fill(~allowed, float("-inf"))
        outs.append(torch.softmax(s, dim=-1) @ vh)
    return torch.stack(outs, dim=1)


def merge_heads(y):
    B, H, L, Dh = y.shape
    return y.transpose(1, 2).reshape(B, L, H * Dh)


def causal(L):
    return torch.ones(L, L, dtype=torch.bool).tril()


def band(L, window):
    rel = torch.arange(L)[:, None] - torch.arange(L)[None, :]
    return (rel >= 0) & (rel < window)


def with_alibi(mixer: str, d_model: int = 64, **kwarg_all):
    """`mixer` whose position child is ALiBi instead of RotaryEmbedding."""
    tree = DesignTree(root=mixer, units={
        mixer: UnitSpec(children=["ALiBi"], code=get_unit(mixer).source.replace("RotaryEmbedding", "ALiBi")),
        "ALiBi": UnitSpec(children=[], code=get_unit("ALiBi").source),
    })
    classes = compile_design(Design(metadata=ObjectMeta(name="alibi-probe"), spec=DesignSpec(tree=tree)))
    return classes[mixer](embed_dim=d_model, block_loc=(0, 2), kwarg_all=kwarg_all, **kwarg_all)


# ---------------------------------------------------------------- GroupedQueryAttention


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_gqa_matches_naive_attention(probe, n_kv_heads):
    unit = probe.build_unit("GroupedQueryAttention", d_model=64, n_heads=4, n_kv_heads=n_kv_heads).double()
    assert (unit.n_heads, unit.n_kv_heads) == (4, n_kv_heads)
    B, L, Dh = 2, 21, 16
    X = torch.randn(B, L, 64, dtype=torch.float64)
    Y, _ = unit(X)
    q = unit.q_proj(X).view(B, L, 4, Dh).transpose(1, 2)
    k, v = unit.kv_proj(X).view(B, L, 2, n_kv_heads, Dh).permute(2, 0, 3, 1, 4)
    _, Z = unit.rotary_emb(X, q=q, k=k)
    ref = unit.out_proj(merge_heads(naive_attention(Z["q"], Z["k"], v, causal(L))))
    torch.testing.assert_close(Y, ref, atol=1e-10, rtol=1e-8)


def test_gqa_with_all_kv_heads_is_multi_head_attention(probe):
    gqa = probe.build_unit("GroupedQueryAttention", d_model=64, n_heads=4, n_kv_heads=4)
    mha = probe.build_unit("MultiHeadAttention", d_model=64, n_heads=4)
    with torch.no_grad():  # MHA's fused qkv rows are [q; k; v], GQA's are q and [k; v]
        mha.qkv_proj.weight.copy_(torch.cat([gqa.q_proj.weight, gqa.kv_proj.weight]))
        mha.out_proj.weight.copy_(gqa.out_proj.weight)
    X = torch.randn(2, 30, 64)
    torch.testing.assert_close(gqa(X)[0], mha(X)[0], atol=1e-5, rtol=1e-5)


def test_gqa_head_counts(probe):
    assert probe.build_unit("GroupedQueryAttention", d_model=512).n_kv_heads == 2  # 8 heads, groups of 4
    assert probe.build_unit("GroupedQueryAttention", d_model=64, n_heads=4, n_kv_heads=3).n_kv_heads == 1  # gcd
    unit = probe.build_unit("GroupedQueryAttention", d_model=256, n_kv_heads=1)
    assert unit.kv_proj.weight.shape == (2 * 64, 256)  # multi-query: one 64-wide k and v head


# ---------------------------------------------------------------- SlidingWindowAttention


def test_sliding_window_matches_naive_band_attention(probe):
    unit = probe.build_unit("SlidingWindowAttention", d_model=64, n_heads=4, window=5).double()
    B, L, Dh = 2, 23, 16
    X = torch.randn(B, L, 64, dtype=torch.float64)
    Y, _ = unit(X)
    q, k, v = unit.qkv_proj(X).view(B, L, 3, 4, Dh).permute(2, 0, 3, 1, 4)
    _, Z = unit.rotary_emb(X, q=q, k=k)
    ref = unit.out_proj(merge_heads(naive_attention(Z["q"], Z["k"], v, band(L, 5))))
    torch.testing.assert_close(Y, ref, atol=1e-10, rtol=1e-8)


def test_sliding_window_ignores_tokens_beyond_the_window(probe):
    window, L, t = 8, 40, 30
    unit = probe.build_unit("SlidingWindowAttention", d_model=64, window=window)
    X = torch.randn(1, L, 64)
    Y, _ = unit(X)

    def change_at(back):
        X2 = X.clone()
        X2[:, t - back] += 3 * torch.randn(64)
        return (unit(X2)[0][:, t] - Y[:, t]).abs().max().item()

    assert change_at(window + 1) < 1e-6  # the brief's "window + 1 back"
    assert change_at(window) < 1e-6  # first token outside: [t - window + 1, t] is visible
    assert change_at(window - 1) > 1e-3  # oldest visible token
    assert change_at(0) > 1e-3


def test_sliding_window_wider_than_sequence_is_causal_attention(probe):
    swa = probe.build_unit("SlidingWindowAttention", d_model=64, window=64)
    mha = probe.build_unit("MultiHeadAttention", d_model=64)
    mha.load_state_dict(swa.state_dict())
    X = torch.randn(2, 50, 64)
    torch.testing.assert_close(swa(X)[0], mha(X)[0], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- ALiBi


def test_alibi_bias_values(probe):
    alibi = probe.build_unit("ALiBi", d_model=32)
    q, k = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8)
    X = torch.randn(1, 3, 32)
    Y, Z = alibi(X, q=q, k=k)
    assert Y is X and Z["q"] is q and Z["k"] is k  # q, k unchanged
    m0, m1 = 2.0 ** -4, 2.0 ** -8  # 2^(-8h/H), h = 1, 2, H = 2
    dist = torch.tensor([[0.0, 1, 2], [1, 0, 1], [2, 1, 0]])
    torch.testing.assert_close(Z["attn_bias"], torch.stack([-m0 * dist, -m1 * dist]))
    # 8 heads: slopes 1/2, 1/4, ..., 1/256 (Press et al. 2022)
    _, Z = alibi(X, q=torch.randn(1, 8, 3, 8), k=torch.randn(1, 8, 3, 8))
    torch.testing.assert_close(Z["attn_bias"][:, 1, 0], torch.tensor([-(2.0 ** -h) for h in range(1, 9)]))
    _, Z = alibi(X.double(), q=q.double(), k=k.double())
    assert Z["attn_bias"].dtype == torch.float64 and Z["attn_bias"].shape == (2, 3, 3)


@pytest.mark.parametrize("mixer", ["MultiHeadAttention", "GroupedQueryAttention", "SlidingWindowAttention"])
def test_attention_with_alibi_is_causal_and_matches_naive(mixer):
    unit = with_alibi(mixer, d_model=64, n_heads=4, n_kv_heads=2, window=6).double()
    assert type(unit.rotary_emb).__name__ == "ALiBi"
    B, L, Dh = 2, 20, 16
    X = torch.randn(B, L, 64, dtype=torch.float64)
    Y, _ = unit(X)
    if mixer == "GroupedQueryAttention":
        q = unit.q_proj(X).view(B, L, 4, Dh).transpose(1, 2)
        k, v = unit.kv_proj(X).view(B, L, 2, 2, Dh).permute(2, 0, 3, 1, 4)
    else:
        q, k, v = unit.qkv_proj(X).view(B, L, 3, 4, Dh).permute(2, 0, 3, 1, 4)
    slopes = torch.tensor([2.0 ** (-8 * h / 4) for h in range(1, 5)], dtype=torch.float64)
    bias = -slopes[:, None, None] * (torch.arange(L)[:, None] - torch.arange(L)[None, :]).abs()
    allowed = band(L, 6) if mixer == "SlidingWindowAttention" else causal(L)
    ref = unit.out_proj(merge_heads(naive_attention(q, k, v, allowed, bias)))
    torch.testing.assert_close(Y, ref, atol=1e-10, rtol=1e-8)
    for t in (0, 5, 12):
        X2 = X.clone()
        X2[:, t + 1:] = torch.randn_like(X2[:, t + 1:])
        torch.testing.assert_close(unit(X2)[0][:, : t + 1], Y[:, : t + 1], atol=1e-10, rtol=1e-8)


# ---------------------------------------------------------------- LayerNorm


def test_layer_norm_matches_formula(probe):
    unit = probe.build_unit("LayerNorm", d_model=32)
    with torch.no_grad():
        unit.weight.normal_()
        unit.bias.normal_()
    X = torch.randn(2, 5, 32) * 3 + 1
    mu, var = X.mean(-1, keepdim=True), X.var(-1, unbiased=False, keepdim=True)
    ref = (X - mu) / torch.sqrt(var + 1e-5) * unit.weight + unit.bias
    torch.testing.assert_close(unit(X)[0], ref, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- GatedLinearAttention


def gla_recurrence(q, k, v, log_a):
    """Token by token: S_t = diag(exp(log_a_t)) S_{t-1} + k_t^T v_t, o_t = q_t S_t."""
    B, H, L, dk = q.shape
    S = torch.zeros(B, H, dk, v.shape[-1], dtype=q.dtype)
    out = []
    for t in range(L):
        S = log_a[:, :, t, :, None].exp() * S + k[:, :, t, :, None] * v[:, :, t, None, :]
        out.append((q[:, :, t, :, None] * S).sum(-2))
    return torch.stack(out, dim=2)


@pytest.mark.parametrize("chunk_size", [32, 64, 24])
def test_gla_chunked_equals_recurrence(probe, chunk_size):
    unit = probe.build_unit("GatedLinearAttention", d_model=64, chunk_size=chunk_size)
    B, H, L, dk, dv = 2, 3, 77, 8, 16  # L not a multiple of the chunk
    q, k = torch.randn(B, H, L, dk, dtype=torch.float64), torch.randn(B, H, L, dk, dtype=torch.float64)
    v = torch.randn(B, H, L, dv, dtype=torch.float64)
    # gates from mild to very strong (per-step decay down to e^-20)
    log_a = (F.logsigmoid(torch.randn(B, H, L, dk, dtype=torch.float64) * 4)
             * torch.rand(B, H, 1, dk, dtype=torch.float64) * 5)
    torch.testing.assert_close(unit._chunked(q, k, v, log_a), gla_recurrence(q, k, v, log_a), atol=1e-9, rtol=1e-7)


def test_gla_unit_equals_naive_forward(probe):
    unit = probe.build_unit("GatedLinearAttention", d_model=64, n_heads=2).double()
    with torch.no_grad():
        unit.gk_up.bias.uniform_(-4, 4)
        unit.norm_weight.normal_()
    B, L, D, H = 2, 45, 64, 2
    dk, dv = unit.key_dim // H, D // H
    X = torch.randn(B, L, D, dtype=torch.float64)
    q, k, v, g = unit.in_proj(X).split([unit.key_dim, unit.key_dim, D, D], dim=-1)
    log_a = F.logsigmoid(unit.gk_up(unit.gk_down(X))) / 16
    heads = lambda t, d: t.view(B, L, H, d).transpose(1, 2)  # noqa: E731
    o = gla_recurrence(heads(q, dk) / math.sqrt(dk), heads(k, dk), heads(v, dv), heads(log_a, dk))
    o = o / torch.sqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * unit.norm_weight
    ref = unit.out_proj(merge_heads(o) * F.silu(g))
    torch.testing.assert_close(unit(X)[0], ref, atol=1e-9, rtol=1e-7)


def test_gla_finite_in_float32_with_strong_gates(probe):
    unit = probe.build_unit("GatedLinearAttention", d_model=64)
    with torch.no_grad():  # logits of -1000: each step decays by e^-62.5; +50: no decay at all
        unit.gk_up.bias.copy_(torch.where(torch.arange(unit.key_dim) % 2 == 0, -1000.0, 50.0))
    X = torch.randn(2, 150, 64, requires_grad=True)
    Y, _ = unit(X)
    assert torch.isfinite(Y).all()
    (Y * torch.randn_like(Y)).sum().backward()
    assert torch.isfinite(X.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in unit.parameters())
    # the core alone, far stronger than any chunk can absorb in one exp()
    q, k, v = torch.randn(1, 2, 100, 8), torch.randn(1, 2, 100, 8), torch.randn(1, 2, 100, 8)
    log_a = torch.full((1, 2, 100, 8), -500.0)
    o = unit._chunked(q, k, v, log_a)
    torch.testing.assert_close(o, (q * k).sum(-1, keepdim=True) * v)  # only the current token survives
