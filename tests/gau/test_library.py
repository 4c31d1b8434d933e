"""Every unit of the library honours the contract: shape, causality, gradients, finiteness, learning."""

from __future__ import annotations

import pytest
import torch

from genesys.gau import build_lm, library
from genesys.gau.library import ROLES

UNITS = sorted(library())


def test_library_has_the_promised_units():
    roles = {u.role for u in library().values()}
    assert {"block", "token_mixer", "channel_mixer", "norm", "position"} <= roles
    assert all(u.role in ROLES for u in library().values())


@pytest.mark.parametrize("name", UNITS)
def test_unit_is_documented(name):
    unit = library()[name]
    assert len(unit.doc) > 40, f"{name} needs a docstring that explains what it does"


@pytest.mark.parametrize("name", UNITS)
def test_unit_shape_finite_and_causal(name, probe):
    unit = probe.build_unit(name, d_model=64)
    L = 80  # crosses chunk boundaries of 16, 32 and 64
    X = torch.randn(2, L, 64)
    Y, _ = unit(X)
    assert Y.shape == X.shape
    assert torch.isfinite(Y).all()
    for t in (0, 7, 15, 16, 31, 33, 50, 63, 64, 78):
        X2 = X.clone()
        X2[:, t + 1 :] = torch.randn_like(X2[:, t + 1 :]) * 3
        Y2, _ = unit(X2)
        torch.testing.assert_close(Y2[:, : t + 1], Y[:, : t + 1], atol=1e-4, rtol=1e-4,
                                   msg=lambda m, t=t: f"{name}: output at <= {t} depends on the future: {m}")


@pytest.mark.parametrize("name", UNITS)
def test_every_parameter_gets_a_gradient(name, probe):
    unit = probe.build_unit(name, d_model=64)
    X = torch.randn(4, 64, 64, requires_grad=True)
    Y, _ = unit(X)
    (Y * torch.randn_like(Y)).sum().backward()
    assert X.grad is not None and X.grad.abs().sum() > 0
    dead = [n for n, p in unit.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"{name}: parameters without gradient: {dead}"


@pytest.mark.parametrize("name", UNITS)
def test_unit_trains_inside_an_lm(name, probe):
    lm = build_lm(probe.unit_design(name), vocab_size=64, d_model=64, n_block=2)
    first, last = probe.train_steps(lm, steps=25, vocab=64)
    assert last == last and last < first - 0.3, f"{name}: loss {first:.3f} -> {last:.3f} did not fall"
