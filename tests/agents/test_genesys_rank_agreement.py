"""benchmarks/genesys_rank_agreement.py: its rank correlation, and which imported designs it takes."""

from __future__ import annotations

import pytest

from benchmark_scripts import load_benchmark
from genesys_layouts import NORM, implementation_json


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("genesys_rank_agreement")


def test_spearman_matches_known_values(bench):
    assert bench.ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert bench.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert bench.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert bench.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)  # 1 - 6*4/(5*24)
    assert bench.spearman([1, 2], [1, 2]) is None and bench.spearman([1, 1, 1], [1, 2, 3]) is None


def test_only_designs_with_a_14m_result_are_candidates(bench, tmp_path):
    bench_data = tmp_path / "model_discovery" / "agents" / "bench_data"
    implementation_json(bench_data / "a" / "toy")
    no_score = implementation_json(bench_data / "b" / "other", name="other",
                                   extra_units={"Norm": {"code": NORM.replace("1e-5", "1e-6"), "children": []}})
    (no_score.parent / "verifications" / "14M.json").unlink()
    scored, counts = bench.candidates(tmp_path)
    assert [d.name for d in scored] == ["toyblock"] and counts == {"distinct": 2, "imported": 2, "with_14M": 1}
