"""Rungs of the ladder of scales: the named presets an Evolution or VerificationJob refers to.

    rung = with_overrides(get_rung("cpu-1"), {"lr": 2e-3})    # from a VerificationJob spec or --set
    configs = ladder_rungs(evolution.spec.ladder)             # every rung a ladder trains, checked

`paper` is the ladder of arXiv 2506.20249 (section 5.1): 14M..350M parameters,
tokens = params x 50/40/30/20/20, context 2048, 0.5M tokens per step. `cpu` is a
small ladder sized for a 2-core machine. Plain data, no torch: a runtime checks a
ladder before it starts anything; the trainer (genesys.trainer.presets) trains it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from genesys.api.naming import suggest

if TYPE_CHECKING:  # only a type: evolution.py deriving its rung names from LADDERS would make it a cycle
    from genesys.api.evolution import LadderSpec

Schedule = Literal["cosine", "wsd"]


class PresetError(ValueError):
    """Unknown rung or bad override; the message names the fix."""


@dataclass(frozen=True)
class RungConfig:
    name: str
    d_model: int  # width of the GPT reference; designs keep it and fit their depth
    n_block: int  # depth of the GPT reference
    tokens: int  # training tokens of one run
    seq_len: int  # context length
    tokens_per_step: int  # global batch in tokens (reached by gradient accumulation)
    micro_batch: int  # sequences per rank per forward/backward
    lr: float  # peak learning rate
    vocab: str = "embedded-bpe"  # tokenizer spec (genesys.trainer.tokenizer.load_tokenizer)
    min_lr_ratio: float = 0.1  # the schedule decays to lr * min_lr_ratio
    warmup_fraction: float = 0.02
    schedule: Schedule = "cosine"
    decay_fraction: float = 0.2  # wsd only: the final share of steps that decays
    weight_decay: float = 0.1  # on matrices only; norms, biases and embeddings are not decayed
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    param_tolerance: float = 0.2  # designs land within this of the reference's non-embedding size
    eval_limit: int | None = None  # items per evaluation task (None: all)

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.tokens_per_step)

    def accumulation(self, world_size: int) -> int:
        """Micro-steps per optimizer step so that world * micro_batch * seq_len * accum = tokens_per_step."""
        per_micro = self.micro_batch * self.seq_len * world_size
        if self.tokens_per_step % per_micro:
            raise PresetError(
                f"rung {self.name}: tokens_per_step {self.tokens_per_step} is not a multiple of "
                f"micro_batch x seq_len x world_size = {per_micro}; change micro_batch or the number of processes"
            )
        return self.tokens_per_step // per_micro


def _paper(name: str, params_m: int, d: int, n: int, lr: float, tokens_per_param: int) -> RungConfig:
    return RungConfig(
        name=f"paper-{name}", d_model=d, n_block=n, tokens=params_m * 1_000_000 * tokens_per_param,
        seq_len=2048, tokens_per_step=524_288, micro_batch=8, lr=lr, vocab="gpt2",
    )


def paper_ladder() -> list[RungConfig]:
    """The Genesys ladder: 14M, 31M, 70M, 125M, 350M (paper section 5.1)."""
    return [
        _paper("14m", 14, 128, 6, 1e-3, 50),
        _paper("31m", 31, 256, 6, 1e-3, 40),
        _paper("70m", 70, 512, 6, 1e-3, 30),
        _paper("125m", 125, 768, 12, 6e-4, 20),
        _paper("350m", 350, 1024, 24, 3e-4, 20),
    ]


CPU_TOKENS_PER_PARAM = 1.25  # training tokens per non-embedding parameter of the GPT reference


def cpu_ladder() -> list[RungConfig]:
    """Three rungs of 0.80M, 2.66M and 6.43M non-embedding parameters for a 2-core CPU.

    Tokens grow with size (1.25 per non-embedding parameter at every rung, as the paper
    scales tokens with parameters), so a higher rung is a larger model trained at least
    as well, not a larger one starved of data. The lowest rung takes ~244 optimizer
    steps: at these budgets more, smaller steps beat fewer large ones by far (gpt2 at
    cpu-1: held-out loss 5.02 with 4k-token steps vs 5.94 with 16k-token steps).
    """
    common: dict[str, Any] = dict(seq_len=256, micro_batch=8, warmup_fraction=0.05, eval_limit=300)
    return [
        RungConfig(name="cpu-1", d_model=128, n_block=4, tokens=1_000_000, tokens_per_step=4_096, lr=3e-3, **common),
        RungConfig(name="cpu-2", d_model=192, n_block=6, tokens=3_325_000, tokens_per_step=8_192, lr=2e-3, **common),
        RungConfig(name="cpu-3", d_model=256, n_block=8, tokens=8_035_000, tokens_per_step=16_384, lr=1.5e-3, **common),
    ]


def debug_rung() -> RungConfig:
    """A seconds-long rung for tests."""
    return RungConfig(name="debug", d_model=64, n_block=2, tokens=16_384, seq_len=64, tokens_per_step=1024,
                      micro_batch=8, lr=3e-3, vocab="embedded-bpe", warmup_fraction=0.1, eval_limit=20)


LADDERS = {"paper": paper_ladder, "cpu": cpu_ladder}


def rungs() -> dict[str, RungConfig]:
    found = {r.name: r for ladder in LADDERS.values() for r in ladder()}
    found["debug"] = debug_rung()
    return found


def get_rung(name: str) -> RungConfig:
    known = rungs()
    if name not in known:
        raise PresetError(f"unknown rung {name!r}; {suggest(name, known)}")
    return known[name]


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`["lr=2e-3", "tokens=5e5"]` (from `--set`) -> `{"lr": "2e-3", "tokens": "5e5"}`."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise PresetError(f"--set expects key=value, got {pair!r} (e.g. --set lr=2e-3)")
        out[key.strip()] = value.strip()
    return out


def _coerce(key: str, current: Any, value: Any) -> Any:
    """`value` as the type of the preset's value, read from its text as `--set` gives it.

    YAML and JSON values go the same way (`tokens: 3.0e+5` -> 300000, `lr: [1]` is an
    error), so a ladder checked when a run starts trains exactly as it was checked.
    """
    if value is None or type(value) is type(current):
        return value
    kind = int if current is None else type(current)  # None: an optional count left unset (eval_limit)
    text = str(value)
    try:
        if kind is bool:
            return text.lower() in ("1", "true", "yes")
        return int(float(text)) if kind is int else kind(text)
    except ValueError:
        raise PresetError(f"rung field {key}: cannot read {value!r} as {kind.__name__}") from None


def with_overrides(rung: RungConfig, overrides: dict[str, Any]) -> RungConfig:
    """`dataclasses.replace` with type coercion (`--set lr=2e-3`, `tokens: 5e5`) and clear errors."""
    fields = {f.name for f in dataclasses.fields(RungConfig)}
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            raise PresetError(f"rung has no field {key!r}; {suggest(key, fields)}")
        values[key] = _coerce(key, getattr(rung, key), value)
    return dataclasses.replace(rung, **values)


def ladder_overrides(ladder: LadderSpec, rung: str) -> dict[str, Any]:
    """The overrides one rung trains with: the ladder's, then the rung's own on top."""
    return {**ladder.overrides, **ladder.rung(rung).overrides}


def ladder_rungs(ladder: LadderSpec) -> list[RungConfig]:
    """Every rung a ladder trains, lowest first, as the trainer will resolve it.

    Raises PresetError naming the rung (`spec.ladder (cpu-1): rung has no field 'tokns';
    did you mean tokens?`), so a typo fails when a run starts, not at its first verification.
    """
    configs = []
    for name in ladder.rung_names():
        try:
            configs.append(with_overrides(get_rung(name), ladder_overrides(ladder, name)))
        except PresetError as err:
            raise PresetError(f"spec.ladder ({name}): {err}") from None
    return configs
