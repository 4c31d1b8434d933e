"""The lm-eval adapter: any causal LM of ours as an lm-eval `LM`, registered as `genesys`.

    lm = GenesysLM(model, tokenizer, max_length=256, batch_size=16)
    lm_eval.simple_evaluate(model=lm, tasks=["genesys_bpb"], task_manager=...)

`model` is any nn.Module whose forward(input_ids (B, L)) returns logits (B, L, V);
`tokenizer` follows the small `Tokenizer` protocol below. Every request is scored
after an EOS token, as every document starts after one in packed training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from torch import nn


@runtime_checkable
class Tokenizer(Protocol):
    """What evaluation needs of a tokenizer (the project's BPE, an HF wrapper, bytes...)."""

    eos_id: int
    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass(frozen=True)
class Window:
    """One forward pass of a scoring request: `inputs` predict the last len(targets) tokens."""

    request: int  # index of the request it belongs to
    inputs: tuple[int, ...]  # (<= max_length,)
    targets: tuple[int, ...]  # tokens predicted by the last len(targets) positions


def windows(tokens: Sequence[int], first_target: int, max_length: int) -> list[tuple[list[int], list[int]]]:
    """Split the prediction of tokens[first_target:] into (inputs, targets) windows.

    Targets come in chunks of at most `max_length` tokens, each predicted once, each
    with as much left context as fits in `max_length` (lm-eval's rolling windows,
    `LM.loglikelihood_rolling`). A short request is a single, left-truncated window.
    """
    assert 1 <= first_target <= len(tokens) and max_length >= 1, (first_target, len(tokens), max_length)
    out = []
    for a in range(first_target, len(tokens), max_length):
        b = min(a + max_length, len(tokens))
        s = max(0, b - 1 - max_length)
        out.append((list(tokens[s : b - 1]), list(tokens[a:b])))
    return out


@register_model("genesys")
class GenesysLM(LM):
    """lm-eval `LM` over a genesys model: loglikelihood, rolling loglikelihood, greedy generation.

    Requests are cut into windows of at most `max_length` tokens, sorted by length and
    run `batch_size` at a time, right-padded (the model is causal, so padding after a
    position never changes its logits).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Tokenizer,
        max_length: int = 2048,  # the context the model was trained with
        batch_size: int | str | None = 8,
        device: str | torch.device | None = None,  # default: where the model's parameters are
        max_gen_toks: int = 256,  # generate_until's default when a task does not say
        autocast_dtype: torch.dtype | None = None,  # e.g. torch.bfloat16 on CUDA
        **unused: Any,  # lm-eval passes max_batch_size etc. when built by name
    ):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"GenesysLM wraps a torch nn.Module, got {type(model).__name__}: build or load the model "
                "first (genesys.gau.build_lm, or a trainer checkpoint) and pass it in model_args as an object"
            )
        missing = [a for a in ("encode", "decode", "eos_id", "vocab_size") if not hasattr(tokenizer, a)]
        if missing:
            raise TypeError(f"tokenizer {type(tokenizer).__name__} lacks {missing}: see genesys.evaluation.Tokenizer")
        if batch_size in (None, "auto"):
            batch_size = 8
        try:
            self.batch_size = int(batch_size)
        except ValueError:
            raise ValueError(f"batch_size must be an integer, got {batch_size!r}") from None
        if self.batch_size < 1 or max_length < 2:
            raise ValueError(f"need batch_size >= 1 and max_length >= 2, got {self.batch_size}, {max_length}")
        self.model, self.tokenizer = model, tokenizer
        self._max_length, self.max_gen_toks, self.autocast_dtype = int(max_length), int(max_gen_toks), autocast_dtype
        param = next(model.parameters(), None)
        default = param.device if param is not None else torch.device("cpu")
        self._device = torch.device(device) if device is not None else default
        self.model.to(self._device)

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_id

    @property
    def tokenizer_name(self) -> str:
        return f"genesys-{type(self.tokenizer).__name__}-{self.tokenizer.vocab_size}"

    def get_model_info(self) -> dict[str, Any]:
        return {
            "model_class": type(self.model).__name__,
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
            "max_length": self.max_length,
        }

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(log P(continuation | EOS + context), whether greedy decoding yields the continuation)."""
        token_lists, starts = [], []
        for req in requests:
            context, continuation = req.args
            ctx, cont = self.encode_pair(context, continuation)
            token_lists.append([self.eot_token_id, *ctx, *cont])
            starts.append(1 + len(ctx))
        results = self._score(token_lists, starts)
        for req, res in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", req.args, res)
        return results

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        """log P(text | EOS) over windows of max_length tokens (perplexity, bits per byte)."""
        token_lists = [[self.eot_token_id, *self.tokenizer.encode(req.args[0])] for req in requests]
        results = [ll for ll, _ in self._score(token_lists, [1] * len(token_lists))]
        for req, ll in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, ll)
        return results

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy continuation of each context, stopped at EOS, a stop string or max_gen_toks."""
        jobs = []
        for req in requests:
            context, gen_kwargs = req.args
            gen_kwargs = dict(gen_kwargs or {})
            temperature = gen_kwargs.get("temperature")
            if gen_kwargs.get("do_sample") and (temperature is None or temperature > 0):
                raise NotImplementedError(
                    "GenesysLM decodes greedily: set do_sample=False (or temperature=0) in the task's generation_kwargs"
                )
            until = gen_kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
            jobs.append(([self.eot_token_id, *self.tokenizer.encode(context)], until, max_new))
        outputs = [""] * len(jobs)
        order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for i, text in zip(batch, self._generate([jobs[i] for i in batch]), strict=True):
                outputs[i] = text
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return outputs

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Tokens of context and continuation, split as in the whole string's encoding.

        Trailing spaces of the context move into the continuation (lm-eval's convention),
        so " word" is scored as the tokenizer would see it inside running text.
        """
        if not continuation:
            raise ValueError(f"empty continuation for context {context[-40:]!r}: nothing to score")
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.tokenizer.encode(context + continuation)
        ctx = self.tokenizer.encode(context) if context else []
        if whole[: len(ctx)] == ctx and len(whole) > len(ctx):
            return ctx, whole[len(ctx) :]
        return ctx, self.tokenizer.encode(continuation)  # the boundary merged: score the parts

    def _score(self, token_lists: list[list[int]], starts: list[int]) -> list[tuple[float, bool]]:
        """Sum of target log-probs and all-greedy flag per request, over all its windows."""
        jobs = [
            Window(r, tuple(inp), tuple(tgt))
            for r, (tokens, start) in enumerate(zip(token_lists, starts, strict=True))
            if start < len(tokens)
            for inp, tgt in windows(tokens, start, self.max_length)
        ]
        logprob = [0.0] * len(token_lists)
        greedy = [True] * len(token_lists)
        for batch in self._batches(jobs):
            for job, (lp, is_greedy) in zip(batch, self._forward_windows(batch), strict=True):
                logprob[job.request] += lp
                greedy[job.request] &= is_greedy
        return list(zip(logprob, greedy, strict=True))

    def _batches(self, jobs: list[Window]) -> Iterator[list[Window]]:
        # Longest first: similar lengths share a batch (little padding), and an
        # out-of-memory error shows up on the first batch, not the last.
        jobs = sorted(jobs, key=lambda w: -len(w.inputs))
        for start in range(0, len(jobs), self.batch_size):
            yield jobs[start : start + self.batch_size]

    def _logits(self, rows: list[Sequence[int]]) -> torch.Tensor:
        """Logits (B, L, V) of right-padded rows."""
        width = max(len(r) for r in rows)
        x = torch.full((len(rows), width), self.eot_token_id, dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        x = x.to(self.device)
        was_training = self.model.training
        self.model.eval()  # and back after: a trainer may evaluate mid-run
        try:
            with torch.inference_mode(), torch.autocast(
                self.device.type, dtype=self.autocast_dtype or torch.bfloat16, enabled=self.autocast_dtype is not None
            ):
                out = self.model(x)
        finally:
            self.model.train(was_training)
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape[:2] == x.shape, f"model returned {tuple(logits.shape)} for input {tuple(x.shape)}"
        return logits

    def _forward_windows(self, batch: list[Window]) -> list[tuple[float, bool]]:
        logits = self._logits([w.inputs for w in batch])  # (B, L, V)
        # All scored positions of the batch at once: rows and columns of the targets.
        rows = torch.tensor([i for i, w in enumerate(batch) for _ in w.targets], device=logits.device)
        cols = torch.tensor(
            [len(w.inputs) - len(w.targets) + k for w in batch for k in range(len(w.targets))], device=logits.device
        )
        target = torch.tensor([t for w in batch for t in w.targets], device=logits.device)
        scored = logits[rows, cols].float()  # (N, V)
        logprob = scored.gather(-1, target[:, None]).squeeze(-1) - scored.logsumexp(-1)  # (N,)
        hit = scored.argmax(-1) == target  # (N,)
        sizes = [len(w.targets) for w in batch]
        return [(lp.sum().item(), bool(h.all())) for lp, h in zip(logprob.split(sizes), hit.split(sizes), strict=True)]

    def _generate(self, jobs: list[tuple[list[int], list[str], int]]) -> list[str]:
        """Greedy decoding of a batch; the full window is recomputed each step (no cache)."""
        seqs = [list(tokens) for tokens, _, _ in jobs]
        new: list[list[int]] = [[] for _ in jobs]
        done = [max_new <= 0 for _, _, max_new in jobs]
        while not all(done):
            active = [i for i, d in enumerate(done) if not d]
            rows = [seqs[i][-self.max_length :] for i in active]
            logits = self._logits(rows)
            for k, i in enumerate(active):
                token = int(logits[k, len(rows[k]) - 1].argmax())
                _, until, max_new = jobs[i]
                if token == self.eot_token_id:
                    done[i] = True
                    continue
                seqs[i].append(token)
                new[i].append(token)
                text = self.tokenizer.decode(new[i])
                done[i] = len(new[i]) >= max_new or any(s in text for s in until)
        return [cut_at_stop(self.tokenizer.decode(n), until) for n, (_, until, _) in zip(new, jobs, strict=True)]


def cut_at_stop(text: str, until: Sequence[str]) -> str:
    """`text` up to the first occurrence of any stop string."""
    cut = min((text.find(s) for s in until if s and s in text), default=len(text))
    return text[:cut]
