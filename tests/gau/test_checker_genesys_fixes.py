"""Checker fixes exposed by the Genesys paper's own designs (issue #13, item 4).

Each test plants the pattern a Genesys design showed: a batch row mixed into every row,
a leak that only crosses blocks, an argument named `input`, a time ratio at its line,
and a parameter used only on long sequences.
"""

from __future__ import annotations

import pytest

from genesys.gau.checker import costs
from genesys.gau.checker.causality import check_causality
from genesys.gau.checker.probes import check_forward, check_gradients
from genesys.gau.checker.static import UnitAnalyzer
from genesys.gau.library import library
from planted_designs import CAUSAL, DETACH_LEAK, mixer, planted, run

# -- an argument named `input` is not the builtin -----------------------------------------


def format_failures(forward: str) -> list[str]:
    problems = UnitAnalyzer("Mixer", mixer(forward), [], {"Mixer"}, set(library())).run()
    return [p.text() for p in problems if p.severity == "fail"]


INPUT_ARGUMENT = '''
def _project(self, input):
    return self.in_proj(input)

def _forward(self, X, **Z):
    v = self._project(X)
    scale = (lambda input: input.abs().mean())(v)
    input = torch.cumsum(v, dim=1) / scale
    return self.out_proj(input)
'''


def test_argument_named_input_is_not_the_builtin():
    assert format_failures(INPUT_ARGUMENT) == []


def test_the_builtin_input_is_still_refused():
    called = CAUSAL.replace("    v = self.in_proj(X)\n", "    v = self.in_proj(X)\n    input('> ')\n")
    default = INPUT_ARGUMENT.replace("def _project(self, input):\n    return self.in_proj(input)",
                                     "def _project(self, x, ask=input):\n    return self.in_proj(x)")
    other_method = INPUT_ARGUMENT + "\ndef _ask(self, x):\n    return input(x)\n"
    for code in (called, default, other_method):
        found = format_failures(code)
        assert len(found) == 1 and "`input` is not allowed" in found[0], found


# -- batch independence compares every row ------------------------------------------------

# Genesys's TTT seed: a helper returns `self.conv(...)[0]`, batch row 0, which then
# broadcasts over the batch: row 0 is itself, every other row gets row 0 added.
ROW_ZERO_LEAK = CAUSAL.replace("    return self.out_proj(", "    return self._conv(v) + self.out_proj(") + \
    "\ndef _conv(self, v):\n    return torch.tanh(v)[0]\n"


def test_row_zero_mixed_into_every_row_is_a_batch_leak():
    result = run(check_forward, planted(ROW_ZERO_LEAK))
    assert result.status == "fail" and "batch leak from row 0" in result.message, result.message
    assert "sequence 1 of 2" in result.message and result.details["batch_gaps"][0] == 0.0


def test_causality_names_the_batch_leak_not_a_position():
    result = run(check_causality, planted(ROW_ZERO_LEAK))
    assert result.status == "fail" and "batch leak from row 0" in result.message, result.message
    assert "depends on the input at position" not in result.message


def test_batch_independent_design_passes_forward_and_causality():
    for check in (check_forward, check_causality):
        result = run(check, planted())
        assert result.status == "pass", result.message


# -- a leak that crosses blocks is reported as such ----------------------------------------

# Block 0 hands a whole-sequence mean to the next block through Z; the next block adds it.
# One block is causal (the Jacobian test's), two are not.
Z_CARRIED_LEAK = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    n = torch.arange(1, X.shape[1] + 1, dtype=X.dtype).view(1, -1, 1)
    Y = self.out_proj(torch.cumsum(v, dim=1) / n)
    summary = Z.get("summary")
    if summary is not None:
        Y = Y + summary
    return Y, {"summary": v.mean(dim=1, keepdim=True)}  # BUG: computed from every position
'''
# The same through the kwarg_all dict all blocks share: block 0 writes, later blocks read.
ATTRIBUTE_CARRIED_LEAK = '''
def _forward(self, X, **Z):
    v = self.in_proj(X)
    n = torch.arange(1, X.shape[1] + 1, dtype=X.dtype).view(1, -1, 1)
    Y = self.out_proj(torch.cumsum(v, dim=1) / n)
    if self.block_loc[0] == 0:
        self.kwarg_all["summary"] = v.mean(dim=1, keepdim=True)  # BUG: computed from every position
    else:
        Y = Y + self.kwarg_all["summary"]
    return Y
'''


def test_leak_across_blocks_is_reported_as_such():
    result = run(check_causality, planted(Z_CARRIED_LEAK))
    assert result.status == "fail", result.message
    assert "the leak appears only across blocks" in result.message, result.message
    assert "non-differentiable path" not in result.message and ".detach()" not in result.message
    assert "unit Mixer (blocks.1.mixer, block 1)" in result.message and "Z['summary']" in result.message
    assert result.unit == "Mixer" and result.details["across_blocks"] is True


def test_leak_carried_in_a_module_attribute_is_reported_across_blocks():
    result = run(check_causality, planted(ATTRIBUTE_CARRIED_LEAK))
    assert result.status == "fail" and "the leak appears only across blocks" in result.message, result.message
    assert "unit Mixer (blocks.1.mixer, block 1)" in result.message and "module attribute" in result.message


def test_leak_within_one_block_keeps_the_detach_hint():
    result = run(check_causality, planted(DETACH_LEAK))
    assert result.status == "fail" and "non-differentiable path" in result.message, result.message
    assert "across blocks" not in result.message and result.unit == "Mixer"


# -- a time ratio near its line is measured again -------------------------------------------


def scripted_timings(monkeypatch, design_seconds: list[float]) -> list[int]:
    """Replace the timed runs: the reference takes 1 s, the design the next of `design_seconds`."""
    calls: list[int] = []

    def fake(models, ids, repeats):
        calls.append(repeats)
        return {"design": [design_seconds[len(calls) - 1]] * repeats, "reference": [1.0] * repeats}

    monkeypatch.setattr(costs, "_time_runs", fake)
    return calls


EFFICIENCY = {"efficiency_seq_len": 32, "efficiency_d_model": 64}


def test_time_ratio_just_over_the_line_is_remeasured_and_the_best_counts(monkeypatch):
    calls = scripted_timings(monkeypatch, [3.01, 2.9, 3.2])  # Genesys: 3.01x, then a pass
    result = run(costs.check_efficiency, planted(), **EFFICIENCY)
    assert len(calls) == 2  # the second measurement is under the line: no third
    assert result.status == "warn" and "time 2.90x" in result.message, result.message
    assert "re-measured 1 time near the 3x line: 3.01x, 2.90x; the best counts" in result.message
    assert result.details["remeasured"] == 1 and result.details["time_measurements"] == [3.01, 2.9]
    assert result.details["ratios"]["time"] == pytest.approx(2.9)


def test_remeasuring_is_bounded_and_a_real_failure_still_fails(monkeypatch):
    calls = scripted_timings(monkeypatch, [3.2, 3.1, 3.05, 2.0])
    result = run(costs.check_efficiency, planted(), **EFFICIENCY)
    assert len(calls) == 3 and result.status == "fail", result.message
    assert "time 3.05x (re-measured 2 times" in result.message and "time 3.05x > 3x" in result.message


def test_far_over_the_line_is_not_remeasured(monkeypatch):
    calls = scripted_timings(monkeypatch, [3.6, 1.0])  # more than 15% over: not noise
    result = run(costs.check_efficiency, planted(), **EFFICIENCY)
    assert len(calls) == 1 and result.status == "fail" and "re-measured" not in result.message
    assert result.details["remeasured"] == 0


# -- a parameter used only past the probe length is length-dependent, not dead -------------

# Two position tables: `near` for the first 1,024 positions, `far` only beyond them.
POSITION_TABLES_INIT = """
self.near = nn.Parameter(torch.randn(1024, embed_dim, **self.factory_kwargs) * 0.02)
self.far = nn.Parameter(torch.randn(4096, embed_dim, **self.factory_kwargs) * 0.02)
"""
POSITION_TABLES = '''
def _forward(self, X, **Z):
    L = X.shape[1]
    pos = self.near[: min(L, 1024)]
    if L > 1024:
        pos = torch.cat([pos, self.far[: L - 1024]])
    v = self.in_proj(X + pos)
    n = torch.arange(1, L + 1, dtype=X.dtype).view(1, -1, 1)
    return self.out_proj(torch.cumsum(v, dim=1) / n)
'''
# Read at every length, but multiplied by zero before position 1,024: a zero gradient.
LATE_GATE = CAUSAL.replace("    v = self.in_proj(X)\n", """    v = self.in_proj(X)
    late = (torch.arange(X.shape[1]) >= 1024).to(X.dtype).view(1, -1, 1)
    v = v + late * self.late_bias
""")


@pytest.mark.parametrize("forward, init, name", [
    (POSITION_TABLES, POSITION_TABLES_INIT, "mixer.far"),
    (LATE_GATE, "self.late_bias = nn.Parameter(torch.zeros(embed_dim, **self.factory_kwargs))", "mixer.late_bias"),
], ids=["never-read", "zero-gradient"])
def test_parameter_used_only_past_the_probe_length_is_length_dependent(forward, init, name):
    result = run(check_gradients, planted(forward, init))
    assert result.status == "warn", result.message
    assert f"used only past 1024 tokens (no gradient on sequences of 1024, a gradient at 2048): {name} (unit " \
        "Mixer)" in result.message, result.message
    assert "never used" not in result.message and "stays exactly zero" not in result.message
    assert result.details["length_dependent"] == {name: {"no_gradient_at": 1024, "gradient_at": 2048}}
    assert result.details["unused"] == [] and result.details["zero"] == [] and result.unit == "Mixer"


def test_dead_parameters_stay_dead_after_the_long_probe():
    dead = run(check_gradients, planted(init="self.spare = nn.Linear(embed_dim, 4 * embed_dim)"))
    assert dead.status == "warn" and "never used in the forward pass: mixer.spare.weight" in dead.message
    assert "used only past" not in dead.message and dead.details["length_dependent"] == {}
    zero = run(check_gradients, planted(CAUSAL.replace("self.in_proj(X)", "self.in_proj(X) + 0.0 * self.side(X)"),
                                        "self.side = nn.Linear(embed_dim, embed_dim, **self.factory_kwargs)"))
    assert zero.status == "fail" and "stays exactly zero" in zero.message
