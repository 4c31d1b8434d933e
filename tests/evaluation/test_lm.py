"""GenesysLM: every lm-eval request type against a direct computation from logits."""

from __future__ import annotations

import json

import lm_eval
import pytest
import torch
import yaml
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from lm_eval.tasks import TaskManager
from lm_eval.utils import get_rolling_token_windows
from torch import nn

from genesys.evaluation.lm import GenesysLM, cut_at_stop, windows


def requests(kind: str, args: list[tuple]) -> list[Instance]:
    return [Instance(request_type=kind, doc={}, arguments=a, idx=0) for a in args]


def direct_loglikelihood(model, tokens: list[int], n_targets: int) -> tuple[float, bool]:
    """log P(last n_targets tokens | the rest), in one forward pass, no batching."""
    x = torch.tensor([tokens[:-1]])
    with torch.no_grad():
        logprobs = model(x)[0, -n_targets:].float().log_softmax(-1)  # (n_targets, V)
    target = torch.tensor(tokens[-n_targets:])
    return logprobs.gather(-1, target[:, None]).sum().item(), bool((logprobs.argmax(-1) == target).all())


def test_registered_under_genesys():
    assert get_model("genesys") is GenesysLM


@pytest.mark.parametrize("batch_size", [1, 3])
def test_loglikelihood_equals_direct_computation(tiny_model, tokenizer, batch_size):
    lm = GenesysLM(tiny_model, tokenizer, max_length=64, batch_size=batch_size)
    args = [("The cat sat on the", " mat"), ("", "Hello"), ("A longer context, " * 3, " with more words"), ("x ", "y")]
    got = lm.loglikelihood(requests("loglikelihood", args))
    for (context, continuation), (lp, greedy) in zip(args, got, strict=True):
        ctx, cont = lm.encode_pair(context, continuation)
        tokens = [tokenizer.eos_id, *ctx, *cont][-(64 + 1) :]  # the third is left-truncated
        want_lp, want_greedy = direct_loglikelihood(tiny_model, tokens, len(cont))
        assert lp == pytest.approx(want_lp, rel=1e-5, abs=1e-4)
        assert greedy == want_greedy
    # trailing spaces of the context belong to the continuation
    assert lm.encode_pair("x ", "y") == (tokenizer.encode("x"), tokenizer.encode(" y"))


def test_loglikelihood_truncates_long_context_from_the_left(tiny_model, tokenizer):
    lm = GenesysLM(tiny_model, tokenizer, max_length=32)
    context, continuation = "abcdefghij" * 10, " end"
    (lp, _), = lm.loglikelihood(requests("loglikelihood", [(context, continuation)]))
    tokens = [tokenizer.eos_id, *tokenizer.encode(context + continuation)]
    want, _ = direct_loglikelihood(tiny_model, tokens[-33:], len(continuation))
    assert lp == pytest.approx(want, rel=1e-5, abs=1e-4)


def test_rolling_loglikelihood_is_the_sum_over_lm_eval_windows(tiny_model, tokenizer):
    max_length = 48
    lm = GenesysLM(tiny_model, tokenizer, max_length=max_length, batch_size=2)
    texts = ["The quick brown fox jumps over the lazy dog. " * 4, "short"]  # 180 tokens > 48, and < 48
    got = lm.loglikelihood_rolling(requests("loglikelihood_rolling", [(t,) for t in texts]))
    for text, ll in zip(texts, got, strict=True):
        want = 0.0
        for inputs, targets in get_rolling_token_windows(tokenizer.encode(text), tokenizer.eos_id, max_length, 1):
            want += direct_loglikelihood(tiny_model, [*inputs, targets[-1]], len(targets))[0]
        assert ll == pytest.approx(want, rel=1e-5, abs=1e-3)
    assert len(texts[0]) > 3 * max_length


def test_windows_predict_every_token_once_with_full_context():
    tokens = list(range(100))
    for max_length in (1, 7, 50, 99, 100, 200):
        got = windows(tokens, 1, max_length)
        predicted = [t for _, targets in got for t in targets]
        assert predicted == tokens[1:]
        for inputs, targets in got:
            assert len(inputs) <= max_length and len(targets) <= len(inputs)
            assert inputs[-1] + 1 == targets[-1]  # inputs end right before the last target
            assert len(inputs) == min(max_length, targets[-1])  # as much context as fits


class NextByte(nn.Module):
    """Deterministic 'model': predicts byte+1 after each byte, and EOS after 'z'."""

    def __init__(self, eos_id: int = 256, vocab_size: int = 257):
        super().__init__()
        nxt = torch.arange(vocab_size) + 1
        nxt[ord("z")] = eos_id
        nxt[eos_id] = ord("a")
        self.register_buffer("table", nn.functional.one_hot(nxt % vocab_size, vocab_size).float() * 10)

    def forward(self, input_ids):
        return self.table[input_ids]


def test_generate_until_stops_at_stop_sequences_eos_and_length(tokenizer):
    lm = GenesysLM(NextByte(), tokenizer, max_length=16, batch_size=2, max_gen_toks=50)
    args = [
        ("a", {"until": ["e"]}),  # stop string: bcd
        ("m", {"until": ["pq", "xyz"]}),  # first stop to appear wins: no
        ("w", {"until": ["\n"]}),  # EOS after z: xyz
        ("abc", {"until": ["never"], "max_gen_toks": 4}),  # length: defg
        ("p", {"until": "s"}),  # a single string: qr
    ]
    got = lm.generate_until(requests("generate_until", args))
    assert got == ["bcd", "no", "xyz", "defg", "qr"]


def test_generate_until_is_greedy_only(tokenizer):
    lm = GenesysLM(NextByte(), tokenizer, max_length=16)
    with pytest.raises(NotImplementedError, match="greedily"):
        lm.generate_until(requests("generate_until", [("a", {"until": ["e"], "do_sample": True, "temperature": 0.7})]))


def test_cut_at_stop():
    assert cut_at_stop("hello world. Next", [".", "\n"]) == "hello world"
    assert cut_at_stop("no stop here", ["\n", ""]) == "no stop here"


def test_rejects_what_it_cannot_wrap(tiny_model, tokenizer):
    with pytest.raises(TypeError, match="nn.Module"):
        GenesysLM("checkpoint.pt", tokenizer)
    with pytest.raises(TypeError, match="eos_id"):
        GenesysLM(tiny_model, object())
    with pytest.raises(ValueError, match="batch_size"):
        GenesysLM(tiny_model, tokenizer, batch_size="large")


def test_generate_until_through_simple_evaluate(tokenizer, tmp_path):
    docs = [{"prompt": "a", "answer": "bcd"}, {"prompt": "k", "answer": "lmn"}, {"prompt": "w", "answer": "xy"}]
    (tmp_path / "alphabet.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    config = {
        "task": "alphabet",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(tmp_path / "alphabet.jsonl")}, "cache_dir": str(tmp_path / "c")},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "prompt",
        "doc_to_target": "answer",
        "generation_kwargs": {"until": ["e", "o", "z"], "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    }
    (tmp_path / "alphabet.yaml").write_text(yaml.safe_dump(config))
    lm = GenesysLM(NextByte(), tokenizer, max_length=16, batch_size=2)
    out = lm_eval.simple_evaluate(
        model=lm, tasks=["alphabet"], task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False)
    )
    assert out["results"]["alphabet"]["exact_match,none"] == 1.0
