"""Local task generation: deterministic by seed, requested counts, items that mean what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from lm_eval.tasks import TaskManager

from genesys.evaluation.local_tasks import LOCAL_TASKS, sentences, write_local_tasks

COUNTS = {"genesys_bpb": 30, "genesys_lastword": 60, "genesys_nextsent": 50, "genesys_wordorder": 40}


def read_items(directory: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (directory / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_deterministic_by_seed_with_requested_counts(documents, tmp_path):
    assert write_local_tasks(documents, tmp_path / "a", seed=3, n_items=COUNTS) == COUNTS
    write_local_tasks(documents, tmp_path / "b", seed=3, n_items=COUNTS)
    write_local_tasks(documents, tmp_path / "c", seed=4, n_items=COUNTS)
    for task in LOCAL_TASKS:
        a, b, c = ((tmp_path / d / f"{task}.jsonl").read_bytes() for d in "abc")
        assert a == b, task
        assert a != c, task
        assert len(read_items(tmp_path / "a", task)) == COUNTS[task]


def test_too_little_text_fails_clearly_and_writes_nothing(documents, tmp_path):
    with pytest.raises(ValueError, match="n_items"):
        write_local_tasks(documents[:2], tmp_path / "out", n_items=500)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="unknown tasks"):
        write_local_tasks(documents, tmp_path / "out", n_items={"genesys_bpc": 3})


def test_items_are_what_each_task_claims(documents, tmp_path):
    write_local_tasks(documents, tmp_path, seed=0, n_items=COUNTS)
    all_sentences = [s for d in documents for s in sentences(d)]
    for item in read_items(tmp_path, "genesys_bpb"):
        assert any(item["text"] in d for d in documents)  # verbatim passages
    for item in read_items(tmp_path, "genesys_lastword"):
        choices, word = item["choices"], item["choices"][item["label"]]
        assert len(set(choices)) == len(choices) == 4
        for choice in choices:  # every choice is a word of the context: copying alone cannot win
            assert choice.startswith(" ") and choice.strip().isalpha()
            assert choice.strip() in item["context"]
        assert f"{item['context']}{word}" in " ".join(all_sentences)
    for item in read_items(tmp_path, "genesys_nextsent"):
        true = item["choices"][item["label"]]
        assert f"{item['context']} {true}" in " ".join(all_sentences)
        assert len(set(item["choices"])) == len(item["choices"]) == 4
        for corrupted in item["choices"]:  # one same-length word differs from the true sentence
            assert len(corrupted.split()) == len(true.split())
            diff = [(t, c) for t, c in zip(true.split(), corrupted.split(), strict=True) if t != c]
            assert corrupted == true or (len(diff) == 1 and len(diff[0][0]) == len(diff[0][1]))
    for item in read_items(tmp_path, "genesys_wordorder"):
        good, bad = item["sentence_good"].split(), item["sentence_bad"].split()
        assert good != bad and sorted(good) == sorted(bad)
        assert good[0] == bad[0] and good[-1] == bad[-1]
        diff = [i for i, (g, b) in enumerate(zip(good, bad, strict=True)) if g != b]
        assert len(diff) == 2 and diff[1] == diff[0] + 1


def test_tasks_load_offline_from_any_working_directory(documents, tmp_path, monkeypatch):
    write_local_tasks(documents, tmp_path / "tasks", n_items=COUNTS)
    for task in LOCAL_TASKS:
        config = yaml.safe_load((tmp_path / "tasks" / f"{task}.yaml").read_text())
        assert Path(config["dataset_kwargs"]["data_files"]["test"]).is_absolute()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False).load(list(LOCAL_TASKS))
    assert {name: len(task.eval_docs) for name, task in loaded["tasks"].items()} == COUNTS


def test_sentences_split_prose_but_not_abbreviations():
    text = 'Mr. Holmes came in. "Is it late?" she asked. It was! Dr. J. Watson left.\n\nA new paragraph.'
    assert sentences(text) == [
        "Mr. Holmes came in.",
        '"Is it late?" she asked.',
        "It was!",
        "Dr. J. Watson left.",
        "A new paragraph.",
    ]
