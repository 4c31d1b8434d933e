"""RetNet seed: chunkwise retention == parallel form == recurrent form; the seed builds and trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genesys.gau import build_block, build_lm, design_parameters, load_design


def parallel_retention(q, k, v, log_decay):
    """Quadratic reference over the whole sequence: (Q K^T * D) V, D[n, m] = gamma^(n-m), n >= m."""
    L = q.shape[-2]
    n = torch.arange(L, dtype=q.dtype)
    diff = n[:, None] - n[None, :]
    D = torch.exp(log_decay.view(-1, 1, 1) * diff.clamp(min=0)) * (diff >= 0)  # (H, L, L)
    return ((q @ k.transpose(-1, -2)) * D) @ v


def recurrent_retention(q, k, v, log_decay):
    """Token by token: S_n = gamma S_{n-1} + k_n^T v_n, o_n = q_n S_n."""
    B, H, L, Dk = q.shape
    gamma = torch.exp(log_decay).view(1, H, 1, 1)
    S = torch.zeros(B, H, Dk, v.shape[-1], dtype=q.dtype)
    out = []
    for t in range(L):
        S = gamma * S + k[:, :, t, :, None] * v[:, :, t, None, :]
        out.append((q[:, :, t, None, :] @ S).squeeze(-2))
    return torch.stack(out, dim=2)


@pytest.fixture
def msr(probe):
    return probe.build_unit("MultiScaleRetention", d_model=64, head_dim=16).double()


def test_decay_schedule_is_the_papers(msr):
    gamma = torch.exp(msr.log_decay(dtype=torch.float64))
    assert msr.n_heads == 4
    torch.testing.assert_close(gamma, 1 - 2.0 ** (-5 - torch.arange(4, dtype=torch.float64)))


@pytest.mark.parametrize("chunk", [1, 5, 16, 64])
def test_chunked_equals_parallel_and_recurrent(msr, chunk):
    g = torch.Generator().manual_seed(1)
    B, H, L, Dk, Dv = 2, 4, 37, 8, 12  # L is not a multiple of any chunk size > 1
    q, k, v = (torch.randn(B, H, L, d, generator=g, dtype=torch.float64) for d in (Dk, Dk, Dv))
    # the paper's decays plus fast ones, to exercise strong decay across chunks
    log_decay = torch.log(torch.tensor([0.96875, 0.5, 0.9, 0.999], dtype=torch.float64))
    got = msr.retention(q, k, v, log_decay, chunk_size=chunk)
    par = parallel_retention(q, k, v, log_decay)
    rec = recurrent_retention(q, k, v, log_decay)
    torch.testing.assert_close(par, rec, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(got, par, atol=1e-10, rtol=1e-10)


def reference_msr(unit, X):
    """The whole unit written with the quadratic parallel form over the full sequence."""
    B, L, D = X.shape
    H, Dk, Dv = unit.n_heads, unit.key_dim, unit.value_head_dim
    q = unit.q_proj(X).view(B, L, H, Dk).transpose(1, 2)
    k = unit.k_proj(X).view(B, L, H, Dk).transpose(1, 2) / Dk**0.5
    v = unit.v_proj(X).view(B, L, H, Dv).transpose(1, 2)
    _, Z = unit.rotary_emb(X, q=q, k=k)
    o = parallel_retention(Z["q"], Z["k"], v, unit.log_decay(dtype=X.dtype))  # (B, H, L, Dv)
    # per-head normalization over Dv (biased variance), then affine
    mu = o.mean(-1, keepdim=True)
    var = o.var(-1, keepdim=True, unbiased=False)
    o = ((o - mu) / torch.sqrt(var + 1e-5)).transpose(1, 2).reshape(B, L, H * Dv)
    o = o * unit.group_norm_weight + unit.group_norm_bias
    return unit.out_proj(F.silu(unit.g_proj(X)) * o)


def test_unit_equals_parallel_reference_and_is_chunk_size_invariant(msr):
    with torch.no_grad():
        msr.group_norm_weight.uniform_(0.5, 1.5)
        msr.group_norm_bias.normal_()
    X = torch.randn(2, 83, 64, dtype=torch.float64)
    ref = reference_msr(msr, X)
    for chunk in (7, 16, 64, 128):
        msr.chunk_size = chunk
        Y, _ = msr(X)
        torch.testing.assert_close(Y, ref, atol=1e-9, rtol=1e-9, msg=lambda m, chunk=chunk: f"chunk {chunk}: {m}")


def test_retnet_seed_size_builds_and_trains(probe):
    design = load_design("retnet")
    assert design.spec.tree.root == "RetNetBlock"
    assert set(design.spec.tree.units) == {"RetNetBlock", "MultiScaleRetention", "RotaryEmbedding",
                                           "GatedMLP", "RMSNorm"}
    gpt2 = design_parameters(load_design("gpt2"), 4096, 128, 4).non_embedding
    retnet = design_parameters(design, 4096, 128, 4).non_embedding
    assert 0.7 < retnet / gpt2 < 1.3, (retnet, gpt2)
    block = build_block(design, 128)
    X = torch.randn(2, 100, 128)
    Y, _ = block(X)
    assert Y.shape == X.shape and torch.isfinite(Y).all()
    lm = build_lm(design, vocab_size=64, d_model=64, n_block=2)
    first, last = probe.train_steps(lm, steps=20, vocab=64, seq_len=32)
    assert last < first - 0.3, (first, last)
