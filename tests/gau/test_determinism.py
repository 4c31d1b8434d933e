"""Same bits for any thread count: the fixed-order kernels, and every library unit's training step."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

from genesys.gau import build_lm, library
from genesys.gau.determinism import ThreadFollower, layer_norm_backward, pin_math, threads_from_env


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _layer_norm_step(threads: int, shape=(8, 256, 128)):
    pin_math(threads)
    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(shape[-1])
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(*shape, requires_grad=True)
    y = norm(x)
    y.backward(torch.randn_like(y))
    return y, x.grad, norm.weight.grad, norm.bias.grad


def test_layer_norm_backward_is_the_same_for_one_and_two_threads():
    assert _digest(*_layer_norm_step(1)) == _digest(*_layer_norm_step(2))


def test_layer_norm_backward_matches_the_native_kernel():
    torch.manual_seed(1)
    x = torch.randn(6, 40, 96, dtype=torch.float64)
    weight, bias = torch.randn(96, dtype=torch.float64), torch.randn(96, dtype=torch.float64)
    dy = torch.randn_like(x)
    _, mean, rstd = torch.ops.aten.native_layer_norm(x, [96], weight, bias, 1e-5)
    mine = layer_norm_backward(dy, x, [96], mean, rstd, weight, bias, [True, True, True])
    # the reference: autograd through the formula written out, in float64
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, weight, bias))
    centred = xr - xr.mean(-1, keepdim=True)
    (centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-5) * wr + br).backward(dy)
    for got, want in zip(mine, (xr.grad, wr.grad, br.grad), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    # masked outputs and no affine parameters
    dx, dw, db = layer_norm_backward(dy, x, [96], mean, rstd, None, None, [True, False, False])
    assert dw is None and db is None and dx.shape == x.shape


OPS = {
    "linear": lambda x: F.linear(x, torch.linspace(-1, 1, 128 * 64).view(64, 128).requires_grad_()),
    "conv1d": lambda x: F.conv1d(x.transpose(1, 2), torch.linspace(-1, 1, 128 * 4).view(128, 1, 4).requires_grad_(),
                                 padding=3, groups=128),
    "sdpa": lambda x: F.scaled_dot_product_attention(*(x.view(8, 256, 4, 32).transpose(1, 2),) * 3, is_causal=True),
    "rms_norm": lambda x: F.rms_norm(x, [128], torch.linspace(0.5, 1.5, 128).requires_grad_()),
    "group_norm": lambda x: F.group_norm(x.transpose(1, 2), 8, torch.linspace(0.5, 1.5, 128).requires_grad_()),
    "sum": lambda x: (x * x).sum(),
    "cumsum": lambda x: x.cumsum(1),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_ops_on_our_paths_give_the_same_bits_for_one_and_two_threads(op):
    def run(threads: int) -> str:
        pin_math(threads)
        torch.manual_seed(0)
        x = torch.randn(8, 256, 128, requires_grad=True)
        y = OPS[op](x)
        y.backward(torch.randn_like(y) if y.dim() else None)
        return _digest(y, x.grad)

    assert run(1) == run(2)


@pytest.mark.parametrize("unit", sorted(library()))
def test_every_library_unit_trains_to_the_same_bits_on_one_and_two_threads(unit, probe):
    """The GP designer builds designs from these units: each step must not depend on threads."""
    design = probe.unit_design(unit)

    def step(threads: int) -> str:
        pin_math(threads)
        torch.manual_seed(0)
        model = build_lm(design, vocab_size=512, d_model=64, n_block=2)
        ids = torch.randint(0, 512, (4, 129), generator=torch.Generator().manual_seed(1))
        logits, Z = model(ids[:, :-1], return_z=True)
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()) + Z.get("aux_loss", 0.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        return _digest(loss, *(p.grad for p in model.parameters() if p.grad is not None))

    assert step(1) == step(2)


def test_pin_math_reads_one_setting_and_says_where_it_came_from(monkeypatch):
    monkeypatch.setenv("GENESYS_THREADS", "1")
    settings = pin_math()
    assert (settings.threads, settings.source, torch.get_num_threads()) == (1, "GENESYS_THREADS", 1)
    assert settings.mkl_cbwr == "AVX2,STRICT" and settings.interop_threads == 1
    assert pin_math(2).source == "argument" and torch.get_num_threads() == 2
    monkeypatch.setenv("GENESYS_THREADS", "two")
    with pytest.raises(ValueError, match="GENESYS_THREADS='two' is not a whole number"):
        threads_from_env()
    monkeypatch.setenv("GENESYS_THREADS", "0")
    with pytest.raises(ValueError, match="must be at least 1"):
        threads_from_env()


def test_thread_follower_re_pins_when_its_file_changes(tmp_path):
    from genesys.api.threads import write_threads_file

    pin_math(1)
    path = tmp_path / "v.threads"
    follower = ThreadFollower(str(path))
    assert follower.poll() is None  # no file yet: keep the pool
    write_threads_file(path, 2)
    assert follower.poll() == 2 and torch.get_num_threads() == 2
    assert follower.poll() is None  # unchanged
    path.write_text("garbage")
    assert follower.poll() is None and torch.get_num_threads() == 2
    write_threads_file(path, 1)
    assert follower.poll() == 1 and torch.get_num_threads() == 1
    assert ThreadFollower(None).poll() is None
