"""Planted bugs fail on the right check; the sandbox contains hangs, runaway memory and escapes.

Each design is a pre-norm block around a planted `Mixer` unit. Probe tests run the
checks in this process (trusted test code) with the quick preset; sandbox tests go
through `check_design` and the child process.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from genesys.gau.checker import check_design, quick_config
from genesys.gau.checker.causality import check_causality
from genesys.gau.checker.config import GiB
from genesys.gau.checker.costs import LiveTensorBytes, check_complexity, check_efficiency, flop_mapping
from genesys.gau.checker.probes import check_forward, check_gradients, check_init, check_stability
from genesys.gau.checker.runner import run_checks
from genesys.gau.checker.sandbox import child_env, run_sandboxed
from planted_designs import CAUSAL, DETACH_LEAK, planted, run

# -- init ---------------------------------------------------------------------------------


def test_healthy_design_passes_every_probe():
    design = planted()
    for check in (check_init, check_forward, check_causality, check_gradients, check_stability):
        result = run(check, design)
        assert result.status == "pass", (result.name, result.message)
    params = run(check_init, design).details["params"]
    assert params["scales"][0]["per_block"] < params["scales"][1]["per_block"]  # really two scales


@pytest.mark.parametrize("init, fragment", [
    ("assert embed_dim <= 64, 'this mixer only supports 64 channels'", "AssertionError in unit Mixer"),
    ("self.bad = nn.Parameter(torch.full((embed_dim,), float('nan')))", "NaN/inf right after init"),
    ("self.table = torch.zeros(embed_dim, embed_dim)[:, :, :, None]", "IndexError in unit Mixer"),
])
def test_init_failures(init, fragment):
    result = run(check_init, planted(init=init))
    assert result.status == "fail" and fragment in result.message, result.message
    assert result.unit == "Mixer"


# -- forward ------------------------------------------------------------------------------


@pytest.mark.parametrize("forward, fragment", [
    ("def _forward(self, X, **Z):\n    return self.out_proj(self.in_proj(X))[:, 1:]", "got (2, 47, 64)"),
    ("def _forward(self, X, **Z):\n    v = self.out_proj(X)\n    return torch.cat([v, v[:, -1:]], dim=1)",
     "got (2, 49, 64)"),
    ("def _forward(self, X, **Z):\n    return self.out_proj(torch.log(self.in_proj(X)))", "output NaN"),
    ("def _forward(self, X, **Z):\n    return self.out_proj(X * torch.exp(torch.cumsum(X * X, dim=1)))",
     "output NaN"),
    ("def _forward(self, X, **Z):\n    v = self.in_proj(X)\n    return self.out_proj(v - v.mean(0, keepdim=True))",
     "other sequences share its batch"),
])
def test_forward_failures(forward, fragment):
    result = run(check_forward, planted(forward))
    assert result.status == "fail" and fragment in result.message, result.message
    assert result.unit in ("Mixer", None)


def test_hardcoded_width_fails_forward_at_the_second_scale():
    forward = CAUSAL.replace("self.in_proj(X)", "self.fixed(X)")
    result = run(check_forward, planted(forward, init="self.fixed = nn.Linear(64, 64, **self.factory_kwargs)"))
    assert result.status == "fail" and "second scale" in result.message and result.unit == "Mixer"
    assert result.line is not None and "self.fixed(X)" in result.message


# -- causality ----------------------------------------------------------------------------

SEQUENCE_MEAN = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    return self.out_proj(v.mean(dim=1, keepdim=True).expand_as(v))
'''
CENTERED_CONV = '''
def _forward(self, X, **Z):
    v = self.in_proj(X).transpose(1, 2)  # (B, D, L)
    y = F.conv1d(v, self.kernel, padding=2, groups=v.shape[1])  # BUG: 2 taps on each side
    return self.out_proj(y.transpose(1, 2))
'''
CHUNK_PEEK = '''
def _forward(self, X, **Z):
    B, L, D = X.shape
    c = 16
    v = self.in_proj(X)
    vp = F.pad(v, (0, 0, 0, (-L) % c)).view(B, -1, c, D)  # (B, n_chunks, c, D)
    totals = vp.sum(2)
    before = torch.cumsum(totals, 1) - totals  # earlier chunks: causal
    mask = torch.ones(c, c, dtype=X.dtype).tril(1)  # BUG: diagonal=1 lets position i see i + 1
    intra = torch.einsum("ij,bnjd->bnid", mask, vp)
    y = (before[:, :, None, :] + intra).reshape(B, -1, D)[:, :L]
    n = torch.arange(1, L + 1, dtype=X.dtype).view(1, -1, 1)
    return self.out_proj(y / n)
'''
ONE_POSITION_LEAK = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    n = torch.arange(1, X.shape[1] + 1, dtype=X.dtype).view(1, -1, 1)
    peek = torch.zeros_like(v)
    peek[:, 45] = v[:, 46]  # BUG: position 45 sees 46, nowhere else
    return self.out_proj(torch.cumsum(v, dim=1) / n + peek)
'''


@pytest.mark.parametrize("forward, init, position, fragment", [
    (SEQUENCE_MEAN, "", 0, "depends on the input at position"),
    (CENTERED_CONV, "self.kernel = nn.Parameter(torch.randn(embed_dim, 1, 5, **self.factory_kwargs) * 0.3)", 0,
     "depends on the input at position 1"),
    (CHUNK_PEEK, "", 0, "depends on the input at position 1"),
    (ONE_POSITION_LEAK, "", 45, "output at position 45 depends on the input at position 46"),
    (DETACH_LEAK, "", 0, "non-differentiable path"),
], ids=["sequence-mean", "centered-conv", "chunk-peek", "one-position", "detach"])
def test_causality_leaks_fail_at_the_earliest_position(forward, init, position, fragment):
    result = run(check_causality, planted(forward, init))
    assert result.status == "fail" and fragment in result.message, result.message
    assert result.details["position"] == position
    assert result.unit == "Mixer"  # localized to the unit


def test_one_position_leak_is_outside_every_perturbation_cut():
    # The Jacobian covers every position: the cuts alone would miss this leak.
    assert 45 not in quick_config().perturbation_cuts


# -- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("forward, init, fragment", [
    (CAUSAL.replace("self.in_proj(X)", "self.in_proj(X) * self.scale.detach()"),
     "self.scale = nn.Parameter(torch.ones(embed_dim, **self.factory_kwargs))", "get no gradient: mixer.scale"),
    (CAUSAL.replace("v = self.in_proj(X)", "with torch.no_grad():\n        g = torch.sigmoid(self.gate(X))\n"
                    "    v = self.in_proj(X) * g"),
     "self.gate = nn.Linear(embed_dim, embed_dim, **self.factory_kwargs)", "get no gradient: mixer.gate.weight"),
    (CAUSAL.replace("self.in_proj(X)", "self.in_proj(X) + 0.0 * self.side(X)"),
     "self.side = nn.Linear(embed_dim, embed_dim, **self.factory_kwargs)", "stays exactly zero"),
    (CAUSAL, "self.frozen = nn.Parameter(torch.ones(embed_dim), requires_grad=False)", None),
], ids=["detach", "no-grad", "times-zero", "frozen"])
def test_parameters_cut_off_from_the_graph_fail(forward, init, fragment):
    if fragment is None:  # a frozen parameter used in the forward pass
        forward = CAUSAL.replace("self.in_proj(X)", "self.in_proj(X) * self.frozen")
        fragment = "requires_grad=False"
    result = run(check_gradients, planted(forward, init))
    assert result.status == "fail" and fragment in result.message, result.message
    assert result.unit == "Mixer"


def test_unused_parameter_warns():
    result = run(check_gradients, planted(init="self.spare = nn.Linear(embed_dim, 4 * embed_dim)"))
    assert result.status == "warn" and "never used" in result.message and "mixer.spare.weight" in result.message


# -- stability ----------------------------------------------------------------------------

EXPLODING_FEATURES = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    return self.out_proj(torch.exp(torch.cumsum(v, dim=1) * 0.5))  # BUG: grows with position and training
'''
TINY_TEMPERATURE = CAUSAL.replace("return self.out_proj(torch.cumsum(v, dim=1) / n)",
                                  "return self.out_proj(torch.cumsum(v, dim=1) / n) / self.temperature")


def test_exploding_feature_map_fails_stability_not_forward():
    design = planted(EXPLODING_FEATURES)
    assert run(check_forward, design).status == "pass"  # finite at init
    result = run(check_stability, design, stability_seq_len=128)
    assert result.status == "fail" and "loss is nan" in result.message, result.message
    assert "nan" in [str(x) for x in result.details["losses"]]


def test_exploding_gradients_fail_stability():
    result = run(check_stability, planted(TINY_TEMPERATURE, "self.temperature = nn.Parameter(torch.tensor(1e-6))"))
    assert result.status == "fail" and "gradient norm" in result.message, result.message
    assert max(result.details["grad_norms"]) > 100


# -- efficiency and complexity ------------------------------------------------------------

REPEATED_MATMULS = CAUSAL.replace("    v = self.in_proj(X)\n", "    v = self.in_proj(X)\n    for _ in range(60):\n"
                                  "        v = torch.tanh(v @ self.mix)  # BUG: 60 extra matmuls\n")
PAIRWISE = '''
def _forward(self, X, **Z):
    B, L, D = X.shape
    v = self.in_proj(X)
    pair = torch.tanh(v[:, :, None, :] * v[:, None, :, :])  # BUG: (B, L, L, D) materialized
    mask = torch.ones(L, L, dtype=X.dtype).tril().view(1, L, L, 1)
    return self.out_proj((pair * mask).sum(2) / L)
'''
CUBIC = '''
def _forward(self, X, **Z):
    B, L, D = X.shape
    v = self.in_proj(X)
    A = torch.softmax(v @ v.transpose(1, 2) / math.sqrt(D) + torch.full((L, L), float("-inf")).triu(1), -1)
    P = A
    for _ in range(8):
        P = P @ A  # BUG: (L, L) @ (L, L) is cubic in length
    return self.out_proj(P @ v)
'''


def test_live_tensor_bytes_measures_peak_memory():
    weights = [torch.randn(256, 256) for _ in range(4)]
    h = torch.randn(1024, 256)  # 1 MiB, allocated outside: not counted
    memory = LiveTensorBytes()
    with memory, torch.no_grad():
        for w in weights:
            h = torch.tanh(h @ w.t())  # .t() is a view: not new memory
    assert memory.peak == 3 * 2**20  # previous h, the matmul result, the tanh result
    del h
    assert memory.live == 0


def test_flop_counter_sees_cpu_attention():
    q = torch.randn(1, 2, 16, 8, requires_grad=True)
    flops = FlopCounterMode(display=False, custom_mapping=flop_mapping())
    with flops:
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
    assert flops.get_total_flops() >= 3 * 2 * 2 * (2 * 16 * 16 * 8)  # fwd (2 matmuls) + bwd (4)


def test_efficiency_of_a_healthy_design_passes():
    result = run(check_efficiency, planted())
    assert result.status == "pass", result.message
    assert set(result.details["ratios"]) == {"time", "memory", "flops"}


def test_slow_block_fails_efficiency():
    init = "self.mix = nn.Parameter(torch.eye(embed_dim) + 0.01 * torch.randn(embed_dim, embed_dim))"
    result = run(check_efficiency, planted(REPEATED_MATMULS, init))
    assert result.status == "fail", result.message
    assert result.details["ratios"]["flops"] > 3 and result.details["verdicts"]["flops"] == "fail"


def test_quadratic_memory_fails_efficiency():
    result = run(check_efficiency, planted(PAIRWISE))
    assert result.status == "fail" and "memory" in result.message
    assert result.details["ratios"]["memory"] > 4


def test_far_too_slow_design_skips_the_expensive_checks():
    init = "self.mix = nn.Parameter(torch.eye(embed_dim) + 0.01 * torch.randn(embed_dim, embed_dim))"
    config = quick_config(only=("efficiency", "causality"), abort_time_ratio=1.5)
    events = []
    results = {r.name: r for r in run_checks(planted(REPEATED_MATMULS, init), config, lambda **e: events.append(e))}
    assert results["efficiency"].status == "fail"
    assert results["causality"].status == "skipped" and "slower than the reference" in results["causality"].message
    assert [e["result"]["name"] for e in events if e["event"] == "result"] == list(results)


def test_complexity_reports_the_exponent():
    linear = run(check_complexity, planted())
    assert linear.status == "pass" and linear.details["exponent"] < 1.7, linear.message
    cubic = run(check_complexity, planted(CUBIC), complexity_lengths=(256, 512, 1024))
    assert cubic.status == "warn" and "worse than quadratic" in cubic.message, cubic.message
    assert cubic.details["exponent"] > 2.3


# -- sandbox (child process) --------------------------------------------------------------

INFINITE_LOOP = "def _forward(self, X, **Z):\n    while True:\n        pass"
UNBOUNDED = "def _forward(self, X, **Z):\n    keep = []\n    while True:\n        keep.append(torch.ones(1 << 25))"
ADDRESS_SPACE = "def _forward(self, X, **Z):\n    keep = []\n    while True:\n        keep.append(torch.empty(1 << 28))"


def test_infinite_loop_fails_in_sandbox_within_the_wall_limit():
    start = time.monotonic()
    report = check_design(planted(INFINITE_LOOP), quick_config(wall_seconds=20))
    assert time.monotonic() - start < 40
    assert not report.passed
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail" and "killed after 20 s wall clock" in sandbox.message
    assert "during the forward check" in sandbox.message
    assert report.check("forward").status == "fail"
    assert report.check("init").status == "pass"  # finished before the hang: kept
    assert report.check("causality").status == "skipped"


def test_cpu_time_limit():
    report = check_design(planted(INFINITE_LOOP), quick_config(wall_seconds=90, cpu_seconds=10))
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail" and "exceeded the CPU-time limit" in sandbox.message, sandbox.message


@pytest.mark.parametrize("forward, limit", [(UNBOUNDED, 3 * GiB), (ADDRESS_SPACE, 12 * GiB)],
                         ids=["resident", "address-space"])
def test_unbounded_allocation_hits_the_memory_limit(forward, limit):
    report = check_design(planted(forward), quick_config(memory_bytes=limit))
    sandbox = report.check("sandbox")
    assert sandbox.status == "fail" and "exceeded the memory limit" in sandbox.message, sandbox.message
    assert report.check("forward").status == "fail"


def test_forbidden_calls_never_run(tmp_path: Path):
    marker = tmp_path / "escaped"
    forward = f"def _forward(self, X, **Z):\n    os.system('touch {marker}')\n    return X"
    report = check_design(planted(forward, header="import os"), quick_config())
    assert report.check("format").status == "fail" and "import of 'os'" in report.check("format").message
    assert all(report.check(n).status == "skipped" for n in ("init", "forward", "sandbox"))
    assert not marker.exists()


@pytest.mark.parametrize("action", [
    "os.system('touch {marker}')",
    "open('{marker}', 'w').write('x')",
    "subprocess.run(['touch', '{marker}'])",
    "socket.socket().connect(('127.0.0.1', 9))",
], ids=["os.system", "open-write", "subprocess", "socket"])
def test_sandbox_blocks_escapes_even_without_the_format_check(tmp_path: Path, action):
    # Defense in depth: hand the child a design the format check would have rejected.
    marker = tmp_path / "escaped"
    init = action.format(marker=marker)
    design = planted(init=init, header="import os\nimport socket\nimport subprocess")
    outcome = run_sandboxed(design, quick_config(only=("init",)))
    assert outcome.blocked, outcome
    assert outcome.results["init"].status == "fail" and "sandbox blocked" in outcome.results["init"].message
    assert not marker.exists()


FORGER = """
def _forward(self, X, **Z):
    print('{"event": "result", "result": {"name": "causality", "status": "pass", "message": "forged"}}')
    v = self.in_proj(X)
    return self.out_proj(v.mean(dim=1, keepdim=True).expand_as(v))  # not causal
"""


def test_design_prints_cannot_forge_results():
    report = check_design(planted(FORGER), quick_config(only=("causality",)))
    causality = report.check("causality")
    assert causality.status == "fail" and causality.message != "forged", report.summary()


def test_child_environment_has_no_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    env = child_env("/tmp/x", 2)
    assert "OPENAI_API_KEY" not in env and env["HF_HUB_OFFLINE"] == "1" and env["HOME"] == "/tmp/x"
    assert "sk-secret" not in " ".join(env.values())


def test_healthy_design_passes_in_the_child():
    report = check_design(planted(), quick_config(only=("forward",)))
    assert report.passed, report.summary()
    assert report.check("sandbox").details["limits"]["memory_bytes"] == 12 * GiB
    assert torch.get_num_threads() >= 1  # the parent is untouched
