"""evaluate(): lm_eval.simple_evaluate end to end, offline, with the random baseline."""

from __future__ import annotations

import json
import time

import pytest
import torch

from genesys.evaluation import evaluate
from genesys.evaluation.local_tasks import LOCAL_TASKS

N_ITEMS = {"genesys_bpb": 24, "genesys_lastword": 40, "genesys_nextsent": 40, "genesys_wordorder": 40}


def test_local_suite_runs_offline_end_to_end(tiny_model, tokenizer, documents, tmp_path):
    start = time.perf_counter()
    result = evaluate(
        tiny_model, tokenizer, "local", heldout_documents=documents, out_dir=tmp_path, n_items=N_ITEMS, limit=12,
        batch_size=8, max_length=64,
    )
    assert time.perf_counter() - start < 60
    assert sorted(result.scores) == sorted(LOCAL_TASKS)
    assert result.n_items == dict.fromkeys(LOCAL_TASKS, 12)
    for score in result.scores.values():
        assert 0.0 <= score.score <= 1.0 and score.stderr is not None and score.baseline is not None
    assert 0.0 <= result.fitness <= 1.0 and result.fitness_stderr > 0
    assert result.scores["genesys_bpb"].raw == pytest.approx(8.0, abs=0.5)  # untrained: about log2(257)
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["scores"]["genesys_nextsent"]["metric"] == "acc_norm"
    assert (tmp_path / "tasks" / "genesys_bpb.yaml").exists()
    assert json.loads((tmp_path / "lm_eval_results.json").read_text())["results"]


def test_a_cheating_bigram_oracle_beats_the_random_baseline(oracle, tokenizer, documents, tmp_path):
    result = evaluate(
        oracle, tokenizer, heldout_documents=documents, out_dir=tmp_path, n_items=N_ITEMS, limit=40, max_length=64
    )
    bpb = result.scores["genesys_bpb"]
    assert bpb.raw < 3.0 < 8.0 < -torch.tensor(1 / 257).log2().item() + 0.1  # uniform: log2(257) bits per byte
    assert bpb.over_baseline > 5 * bpb.stderr
    assert result.scores["genesys_wordorder"].over_baseline > 0
    assert result.fitness > result.baseline_fitness


def test_a_briefly_trained_model_beats_the_random_baseline(tiny_model, tokenizer, documents, tmp_path):
    data = torch.tensor([t for d in documents for t in [tokenizer.eos_id, *tokenizer.encode(d)]])
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    tiny_model.train()
    for _ in range(60):
        starts = torch.randint(0, len(data) - 65, (16,), generator=generator)
        batch = torch.stack([data[s : s + 65] for s in starts.tolist()])  # (16, 65)
        logits = tiny_model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    result = evaluate(
        tiny_model, tokenizer, heldout_documents=documents, out_dir=tmp_path, n_items=N_ITEMS, limit=24, max_length=64
    )
    bpb = result.scores["genesys_bpb"]
    assert bpb.raw < 4.0 and bpb.over_baseline > 5 * bpb.stderr


def test_baseline_can_be_reused_or_skipped(oracle, tokenizer, documents, tmp_path):
    first = evaluate(oracle, tokenizer, heldout_documents=documents, out_dir=tmp_path, n_items=N_ITEMS, limit=8)
    reused = evaluate(
        oracle, tokenizer, heldout_documents=documents, out_dir=tmp_path, n_items=N_ITEMS, limit=8,
        baseline=first.baselines,
    )
    assert reused.baselines == first.baselines
    assert reused.fitness == first.fitness
    skipped = evaluate(oracle, tokenizer, heldout_documents=documents, n_items=N_ITEMS, limit=8, baseline=False)
    assert skipped.baseline_fitness is None and skipped.to_dict()["fitness_over_baseline"] is None


def test_inputs_that_cannot_work_fail_before_any_evaluation(oracle, tokenizer, monkeypatch):
    with pytest.raises(ValueError, match="heldout_documents"):
        evaluate(oracle, tokenizer, "local")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="task_set='local'"):
        evaluate(oracle, tokenizer, "paper9")
    with pytest.raises(KeyError, match="local"):
        evaluate(oracle, tokenizer, "locl")
    with pytest.raises(TypeError, match="tokenizer"):
        evaluate(oracle)
