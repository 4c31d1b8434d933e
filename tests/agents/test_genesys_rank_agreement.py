"""benchmarks/genesys_rank_agreement.py: its rank correlation, and which imported designs it takes."""

from __future__ import annotations

import json

import pytest

from benchmark_scripts import load_benchmark
from genesys_layouts import NORM, implementation_json, seed_units


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
    scored, counts, _ = bench.candidates(tmp_path)
    assert [d.name for d in scored] == ["toyblock"] and counts == {"distinct": 2, "imported": 2, "with_14M": 1}


def test_lineage_follows_seed_ids_to_the_designs_without_seeds(bench, tmp_path):
    seed_units(tmp_path / "model_discovery" / "model" / "library" / "core")  # ToySeed: no seeds of its own
    bench_data = tmp_path / "model_discovery" / "agents" / "bench_data"
    child = implementation_json(bench_data / "a" / "child", name="child")
    (child.parent / "metadata.json").write_text(json.dumps({"seed_ids": ["toyseed"]}))
    grandchild = implementation_json(bench_data / "b" / "grandchild", name="grandchild", extra_units={
        "Norm": {"code": NORM.replace("1e-5", "1e-6"), "children": []}})
    (grandchild.parent / "metadata.json").write_text(json.dumps({"seed_ids": ["child", "gpt2"]}))
    scored, _, lineage = bench.candidates(tmp_path)
    # gpt2 was not imported, so it is a root of its own; ToySeed is cited by its folder name, case aside
    assert lineage == {"toyseed": "toyseed", "child": "toyseed", "grandchild": "gpt2+toyseed"}
    assert [d.name for d in scored] == ["child", "grandchild"]


def test_references_split_by_lineage_and_compare_genesys_with_itself(bench):
    pairs = [{"lineage": "gpt2", "fitness": f, "genesys_14M": g, "genesys_31M": h}
             for f, g, h in [(0.1, 0.5, 0.4), (0.2, 0.6, 0.5), (0.3, 0.7, 0.6)]]
    pairs += [{"lineage": "ttt", "fitness": f, "genesys_14M": g, "genesys_31M": None}
              for f, g in [(0.4, 0.3), (0.5, 0.2), (0.6, 0.1)]]
    refs = bench.references(pairs)
    assert refs["by_lineage"]["gpt2"] == {"n": 3, "spearman": pytest.approx(1.0)}
    assert refs["by_lineage"]["ttt"] == {"n": 3, "spearman": pytest.approx(-1.0)}
    assert refs["genesys_14M_vs_31M"] == {"n": 3, "spearman": pytest.approx(1.0)}
    assert bench.spearman([p["fitness"] for p in pairs], [p["genesys_14M"] for p in pairs]) < 0  # families disagree
