"""The Mamba-2 seed: chunked SSD == the token-by-token recurrence, chunk-size invariance, the seed trains."""

from __future__ import annotations

import pytest
import torch

from genesys.gau import build_lm, design_parameters, load_design


def naive_ssm(x, dt, A, B, C, D):
    """h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T; y_t = h_t C_t + D x_t, one token at a time."""
    b, L, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    group = torch.arange(h) // (h // g)  # head -> its B/C group
    state = torch.zeros(b, h, p, n, dtype=x.dtype)
    ys = []
    for t in range(L):
        Bt, Ct = B[:, t, group], C[:, t, group]  # (b, h, n)
        decay = torch.exp(dt[:, t] * A)  # (b, h)
        state = decay[..., None, None] * state + (dt[:, t, :, None] * x[:, t])[..., None] * Bt[:, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", state, Ct) + D[:, None] * x[:, t])
    return torch.stack(ys, dim=1)


@pytest.mark.parametrize(("L", "chunk_size", "ngroups"), [(37, 8, 1), (50, 16, 2), (5, 16, 1)])
def test_chunked_ssd_equals_recurrence(L, chunk_size, ngroups, probe):
    mixer = probe.build_unit("Mamba2Mixer", d_model=32, headdim=16, d_state=8, ngroups=ngroups,
                             chunk_size=chunk_size, dtype=torch.float64)
    h, p, n = mixer.n_heads, mixer.headdim, mixer.d_state
    assert h == 4 and L % chunk_size != 0
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, L, h, p, generator=gen, dtype=torch.float64)
    dt = torch.nn.functional.softplus(torch.randn(2, L, h, generator=gen, dtype=torch.float64))
    A = -torch.rand(h, generator=gen, dtype=torch.float64) * 4
    B = torch.randn(2, L, ngroups, n, generator=gen, dtype=torch.float64)
    C = torch.randn(2, L, ngroups, n, generator=gen, dtype=torch.float64)
    D = torch.randn(h, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(mixer.ssd(x, dt, A, B, C, D), naive_ssm(x, dt, A, B, C, D), atol=1e-8, rtol=1e-8)


def test_mixer_output_does_not_depend_on_chunk_size(probe):
    mixer = probe.build_unit("Mamba2Mixer", d_model=64, chunk_size=64)
    X = torch.randn(2, 75, 64)
    ref, _ = mixer(X)
    for cs in (7, 16, 32, 128):
        mixer.chunk_size = cs
        Y, _ = mixer(X)
        torch.testing.assert_close(Y, ref, atol=1e-5, rtol=1e-4)


def test_mamba2_seed_is_sized_like_gpt2_and_trains(probe):
    gpt2 = design_parameters(load_design("gpt2"), 4096, 128, 4).non_embedding
    mamba2 = design_parameters(load_design("mamba2"), 4096, 128, 4).non_embedding
    assert 0.7 < mamba2 / gpt2 < 1.3, (mamba2, gpt2)
    lm = build_lm(load_design("mamba2"), vocab_size=64, d_model=64, n_block=1)
    first, last = probe.train_steps(lm, steps=25, vocab=64, seq_len=32)
    assert last < first - 0.3, f"loss {first:.3f} -> {last:.3f} did not fall"
