"""ShortConvMixer and GatedTokenMixer: wrappers that reduce to the mixer they wrap."""

from __future__ import annotations

import torch


def test_short_conv_mixer_with_a_silent_conv_is_its_mixer(probe):
    unit = probe.build_unit("ShortConvMixer", d_model=32)
    with torch.no_grad():
        unit.conv.weight.zero_()
        unit.conv.bias.zero_()
    X = torch.randn(2, 20, 32)
    torch.testing.assert_close(unit(X)[0], unit.mixer(X)[0])
    with torch.no_grad():
        unit.conv.weight[:, 0, -1] = 1.0  # the current token only: the mixer sees 2 X
    torch.testing.assert_close(unit(X)[0], unit.mixer(2 * X)[0])


def test_gated_token_mixer_scales_its_mixer_by_a_sigmoid_gate(probe):
    unit = probe.build_unit("GatedTokenMixer", d_model=32)
    with torch.no_grad():
        unit.gate_proj.weight.zero_()
        unit.gate_proj.bias.fill_(20.0)  # gate ~ 1
    X = torch.randn(2, 20, 32)
    torch.testing.assert_close(unit(X)[0], unit.mixer(X)[0], atol=1e-6, rtol=1e-6)
    with torch.no_grad():
        unit.gate_proj.bias.zero_()  # gate = 1/2
    torch.testing.assert_close(unit(X)[0], unit.mixer(X)[0] / 2)
