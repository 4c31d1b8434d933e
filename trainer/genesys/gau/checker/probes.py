"""Dynamic checks that run the design: init, forward, causality, gradients, stability.

Run inside the sandboxed worker (they execute untrusted code). Each check takes a
`Probe` and returns a CheckResult; exceptions from unit code become failures that
name the unit and line. Efficiency and complexity live in costs.py.
"""

from __future__ import annotations

import linecache
import math
import re
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from genesys.api import Design
from genesys.gau.base import GAUBase, UnitContractError
from genesys.gau.checker.config import CheckConfig
from genesys.gau.checker.report import CheckResult
from genesys.gau.checker.text import text_batches
from genesys.gau.compiler import UnitCompileError
from genesys.gau.composition import GAULanguageModel, build_lm
from genesys.gau.sizing import count_parameters

_UNIT_FILE = re.compile(r"^<design .* unit (\w+)>$")
_UNIT_IN_MESSAGE = re.compile(r"\bunit (\w+)")


class CheckFailed(Exception):
    """Raised inside a check to end it with a failure."""

    def __init__(self, message: str, unit: str | None = None, line: int | None = None, **details: Any):
        super().__init__(message)
        self.unit, self.line, self.details = unit, line, details


def is_memory_error(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or "can't allocate memory" in str(err) or "not enough memory" in str(err)


def describe_exception(err: BaseException, doing: str) -> CheckFailed:
    """A failure naming the unit and line of unit code where `err` was raised."""
    if isinstance(err, CheckFailed):
        return err
    unit, line, code = None, None, ""
    if isinstance(err, UnitCompileError):
        unit, line = err.unit, err.line
    for frame in traceback.extract_tb(err.__traceback__):
        m = _UNIT_FILE.match(frame.filename)
        if m:
            unit, line = m.group(1), frame.lineno
            code = (linecache.getline(frame.filename, frame.lineno) or "").strip()
    m = _UNIT_IN_MESSAGE.search(str(err))
    if m and (unit is None or isinstance(err, UnitContractError)):
        unit, line = m.group(1), None  # the contract names the unit at fault; code is its caller's
    text = str(err).strip().replace("\n", " ")
    if len(text) > 500:
        text = text[:500] + " ..."
    where = f" in unit {unit}" + (f", line {line}" if line else "") if unit else ""
    if unit and text.startswith(f"unit {unit}") and not line:
        where = ""  # the message names the unit already
    message = f"{doing} raised {type(err).__name__}{where}: {text}"
    if code:
        message += f"\n  > {code}"
    if is_memory_error(err):
        message += "\n  the design exceeded the sandbox's memory limit: avoid materializing (L, L, D)-sized tensors"
        return CheckFailed(message, unit, line, memory_limit=True)
    return CheckFailed(message, unit, line, exception=type(err).__name__)


class Probe:
    """A design and the settings to probe it with; builds fresh, seeded models."""

    def __init__(self, design: Design, config: CheckConfig):
        self.design, self.config = design, config
        self.abort: str | None = None  # set when later checks are pointless (e.g. far too slow)

    def lm(self, d_model: int | None = None, n_block: int | None = None) -> GAULanguageModel:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        return build_lm(self.design, cfg.vocab_size, d_model or cfg.d_model, n_block or cfg.n_block)

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed + offset)


def run_blocks(lm: GAULanguageModel, X: torch.Tensor, n_block: int | None = None) -> torch.Tensor:
    """The LM's blocks (the first `n_block` of them) on continuous inputs X (B, L, D): the token
    embedding is bypassed."""
    Z: dict[str, Any] = {}
    for block in lm.blocks[:n_block]:
        X, Z = block(X, **Z)
    return X


def timed(name: str, fn: Callable[[Probe], CheckResult]) -> Callable[[Probe], CheckResult]:
    """Wrap a check: measure it and turn any exception into a failure."""

    def run(probe: Probe) -> CheckResult:
        start = time.perf_counter()
        try:
            result = fn(probe)
        except BaseException as err:  # untrusted code may raise anything, SystemExit included
            if isinstance(err, KeyboardInterrupt):
                raise
            failure = describe_exception(err, f"the {name} check") if not isinstance(err, CheckFailed) else err
            result = CheckResult(name, "fail", str(failure), details=failure.details, unit=failure.unit,
                                 line=failure.line)
        result.seconds = time.perf_counter() - start
        return result

    return run


def unit_of(lm: torch.nn.Module, param_name: str) -> str:
    """Class name of the innermost unit that owns `param_name`."""
    owner = "?"
    module: torch.nn.Module = lm
    for part in param_name.split(".")[:-1]:
        module = getattr(module, part, None)  # type: ignore[assignment]
        if module is None:
            break
        if isinstance(module, GAUBase):
            owner = type(module).__name__
    return owner


def _block_relative(name: str) -> str:
    return re.sub(r"^(blocks\.)?\d+\.", "", name)


# -- init ---------------------------------------------------------------------------------


def check_init(probe: Probe) -> CheckResult:
    cfg = probe.config
    scales = [(cfg.d_model, cfg.n_block), tuple(cfg.second_scale)]
    found: list[dict[str, Any]] = []
    for d_model, n_block in scales:
        doing = f"building the LM at d_model={d_model}, n_block={n_block}"
        try:
            lm = probe.lm(d_model, n_block)
        except BaseException as err:
            raise describe_exception(err, doing) from None
        counts = count_parameters(lm)
        per_block = sum(p.numel() for p in lm.blocks[0].parameters())
        if per_block == 0:
            raise CheckFailed(f"a block has no parameters at d_model={d_model}: the block must learn something; "
                              "implement the units (placeholders are identities)")
        bad = [n for n, p in lm.blocks.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise CheckFailed(f"parameters are NaN/inf right after init at d_model={d_model}: "
                              f"{', '.join(bad[:5])}; fix __init__ or _init_weights", unit_of(lm.blocks, bad[0]))
        found.append({"d_model": d_model, "n_block": n_block, "total": counts.total,
                      "embedding": counts.embedding, "non_embedding": counts.non_embedding, "per_block": per_block})
    params = {**found[0], "scales": found}
    sizes = " and ".join(f"d_model={s['d_model']}, n_block={s['n_block']} ({s['per_block']:,} params per block)"
                         for s in found)
    return CheckResult("init", "pass", f"builds at two scales: {sizes}", details={"params": params})


# -- forward ------------------------------------------------------------------------------


@contextmanager
def first_nonfinite(lm: torch.nn.Module):
    """Records the first unit (in execution order) whose output Y has NaN/inf."""
    found: dict[str, Any] = {}

    def hook(name: str):
        def fn(module, inputs, output):
            Y = output[0] if isinstance(output, tuple) else output
            if not found and isinstance(Y, torch.Tensor) and Y.is_floating_point() and not torch.isfinite(Y).all():
                found.update(unit=type(module).__name__, path=name, nan=bool(torch.isnan(Y).any()))
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in lm.named_modules() if isinstance(m, GAUBase)]
    try:
        yield found
    finally:
        for h in handles:
            h.remove()


def check_forward(probe: Probe) -> CheckResult:
    cfg = probe.config
    lm = probe.lm()
    lm.eval()  # deterministic (dropout off) so batch independence can be compared
    gen = probe.generator(1)
    for L in cfg.forward_lengths:
        ids = torch.randint(0, cfg.vocab_size, (2, L), generator=gen)
        with torch.no_grad(), first_nonfinite(lm) as bad:
            try:
                logits = lm(ids)
            except BaseException as err:
                raise describe_exception(err, f"the forward pass on random tokens (batch 2, length {L})") from None
        if bad:
            kind = "NaN" if bad["nan"] else "inf"
            raise CheckFailed(
                f"unit {bad['unit']} (at {bad['path']}) output {kind} on random tokens at length {L}: "
                "keep activations bounded (normalize, clamp exponents, use log-space or stable softmax forms)",
                bad["unit"])
        if tuple(logits.shape) != (2, L, cfg.vocab_size):
            raise CheckFailed(f"the LM returned shape {tuple(logits.shape)} for input (2, {L})")
        if not torch.isfinite(logits).all():
            raise CheckFailed(f"logits are NaN/inf at length {L}")
        with torch.no_grad():
            gaps = batch_gaps(lm, ids, logits)
        if max(gaps) > BATCH_RTOL:
            raise CheckFailed(batch_leak_message(gaps), batch_gap=max(gaps), batch_gaps=gaps)
    d_model, n_block = cfg.second_scale
    lm = probe.lm(d_model, n_block)
    lm.eval()
    L = min(cfg.forward_lengths)
    ids = torch.randint(0, cfg.vocab_size, (1, L), generator=gen)
    with torch.no_grad(), first_nonfinite(lm) as bad:
        try:
            logits = lm(ids)
        except BaseException as err:
            raise describe_exception(err, f"the forward pass at the second scale (d_model={d_model}, "
                                          f"n_block={n_block}, length {L})") from None
    if bad or not torch.isfinite(logits).all():
        raise CheckFailed(f"outputs are NaN/inf at d_model={d_model}" + (f" (first in unit {bad['unit']})" if bad
                          else ""), bad.get("unit"))
    lengths = ", ".join(str(L) for L in cfg.forward_lengths)
    return CheckResult("forward", "pass", f"output shape (B, L, D) at every block and finite logits at lengths "
                       f"{lengths} (and at d_model={d_model}); sequences in a batch are independent",
                       details={"lengths": list(cfg.forward_lengths), "second_scale": [d_model, n_block]})


BATCH_RTOL = 1e-3  # relative difference between a sequence run alone and in a batch


def batch_gaps(fn: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, out: torch.Tensor) -> list[float]:
    """For every row of `batch`, the relative difference between its output in the batch (`out`)
    and its output run alone. Every row: a design that mixes row 0 into the others leaves row 0 intact."""
    scale = out.abs().max().clamp_min(1e-6)
    return [float((fn(batch[i : i + 1]) - out[i : i + 1]).abs().max() / scale) for i in range(batch.shape[0])]


def batch_leak_message(gaps: list[float]) -> str:
    worst = max(range(len(gaps)), key=lambda i: gaps[i])
    message = (f"the output for a sequence changes when other sequences share its batch (sequence {worst} of "
               f"{len(gaps)}, relative difference {gaps[worst]:.2g}): ")
    if gaps[0] <= BATCH_RTOL:  # the first row is itself, every later one is not
        return message + ("a batch leak from row 0: the first sequence of the batch reaches the others, e.g. "
                          "indexing a batched tensor with [0] (like `self.conv(x)[0]`) and broadcasting the result "
                          "over the batch; keep the batch dimension in every operation")
    return message + ("statistics over the batch (e.g. BatchNorm) leak information between sequences; normalize "
                      "per token instead")


# -- gradients ----------------------------------------------------------------------------

# Reading a parameter's metadata (p.shape, p.size()) is not using it.
_METADATA = {getattr(torch.Tensor, name).__get__ for name in ("shape", "dtype", "device", "ndim", "requires_grad",
                                                              "is_leaf", "grad")}
_METADATA |= {torch.Tensor.size, torch.Tensor.dim, torch.Tensor.numel}


class ParameterUse(TorchFunctionMode):
    """Records which parameters the forward pass reads (metadata such as .shape does not count)."""

    def __init__(self) -> None:
        super().__init__()
        self.used: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in _METADATA:
            for t in tree_flatten((args, kwargs))[0]:
                if isinstance(t, torch.nn.Parameter):
                    self.used.add(id(t))
        return func(*args, **kwargs)


def _lm_loss(lm: GAULanguageModel, ids: torch.Tensor) -> torch.Tensor:
    logits = lm(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))


@dataclass
class _GradientSorting:
    """Block parameter names by what the first backward pass did to them."""

    unused: list[str] = field(default_factory=list)  # never read by the forward pass
    frozen: list[str] = field(default_factory=list)  # read, but requires_grad=False
    cut: list[str] = field(default_factory=list)  # read, but no gradient reached them
    nonfinite: list[str] = field(default_factory=list)
    zero: list[str] = field(default_factory=list)


def _used_parameters(lm: GAULanguageModel, ids: torch.Tensor) -> set[int]:
    """ids of the parameters one forward pass reads; leaves the backward pass's gradients in place."""
    use = ParameterUse()
    try:
        with use:
            loss = _lm_loss(lm, ids)
        loss.backward()
    except BaseException as err:
        raise describe_exception(err, "the forward/backward pass for the gradient check") from None
    return use.used


def _sort_gradients(named: list[tuple[str, torch.nn.Parameter]], used: set[int]) -> _GradientSorting:
    sorting = _GradientSorting()
    for name, p in named:
        if id(p) not in used:
            sorting.unused.append(name)
        elif not p.requires_grad:
            sorting.frozen.append(name)
        elif p.grad is None:
            sorting.cut.append(name)
        elif not torch.isfinite(p.grad).all():
            sorting.nonfinite.append(name)
        elif not (p.grad != 0).any():
            sorting.zero.append(name)
    return sorting


def _still_zero(lm: GAULanguageModel, named: list[tuple[str, torch.nn.Parameter]], zero: list[str],
                batches: list[torch.Tensor], lr: float) -> list[str]:
    """Of `zero`, those whose gradient is still zero after a training step on each batch:
    zero-initialized gates open after a few steps."""
    opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=lr)
    try:
        for ids in batches:
            opt.step()
            opt.zero_grad(set_to_none=True)
            _lm_loss(lm, ids).backward()
    except BaseException as err:
        raise describe_exception(err, "training steps in the gradient check") from None
    params = dict(named)
    return [n for n in zero if params[n].grad is None or not (params[n].grad != 0).any()]


def _parameter_listing(blocks: torch.nn.Module, names: list[str]) -> str:
    seen: dict[str, str] = {}
    for n in names:
        seen.setdefault(_block_relative(n), unit_of(blocks, n))
    shown = [f"{n} (unit {u})" for n, u in list(seen.items())[:6]]
    return ", ".join(shown) + (f" and {len(seen) - 6} more" if len(seen) > 6 else "")


def _gradient_problems(sorting: _GradientSorting, blocks: torch.nn.Module,
                       retry_steps: int) -> tuple[list[str], str | None]:
    """The failures, and the parameter whose unit the report names."""
    problems = []
    first = None
    if sorting.cut:
        problems.append(f"parameters used in the forward pass get no gradient: "
                        f"{_parameter_listing(blocks, sorting.cut)}; they are cut off from "
                        "the loss (.detach(), .data, torch.no_grad(), integer/argmax paths or in-place copies): let "
                        "gradients flow or make them buffers")
        first = first or sorting.cut[0]
    if sorting.frozen:
        problems.append(f"parameters with requires_grad=False: {_parameter_listing(blocks, sorting.frozen)}; "
                        "register constants with self.register_buffer instead")
        first = first or sorting.frozen[0]
    if sorting.nonfinite:
        problems.append(f"NaN/inf gradients: {_parameter_listing(blocks, sorting.nonfinite)}; keep the computation "
                        "numerically stable")
        first = first or sorting.nonfinite[0]
    if sorting.zero:
        problems.append(f"parameters whose gradient stays exactly zero after {retry_steps} steps: "
                        f"{_parameter_listing(blocks, sorting.zero)}; they never learn (multiplied by zero, dead "
                        "branch, or a constant path)")
        first = first or sorting.zero[0]
    return problems, first


GRADIENT_PROBE_LENGTH = 64  # tokens the gradient check's batches feed the LM


def _used_past(lm: GAULanguageModel, named: list[tuple[str, torch.nn.Parameter]], candidates: list[str],
               start: int, longest: int, seed: int,
               max_seconds: float) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Of `candidates` (no gradient at length `start`), those that get a non-zero finite gradient on
    a longer sequence, probed at doubling lengths up to `longest` (or until one pass takes longer
    than `max_seconds`): name -> (the last length without a gradient, the first with one). Also
    why the probing ended early, if it did."""
    params = dict(named)
    left = list(candidates)
    found: dict[str, tuple[int, int]] = {}
    below, L = start, start * 2
    while left and below < longest:
        L = min(L, longest)
        ids = text_batches(1, 1, L, seed)[0]  # L + 1 tokens: the LM sees L
        lm.zero_grad(set_to_none=True)
        start_time = time.perf_counter()
        try:
            _lm_loss(lm, ids).backward()
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
            return found, f"{type(err).__name__} at length {L}: {str(err)[:200]}"
        elapsed = time.perf_counter() - start_time
        for name in list(left):
            g = params[name].grad
            if g is not None and torch.isfinite(g).all() and (g != 0).any():
                found[name] = (below, L)
                left.remove(name)
        if left and L < longest and elapsed > max_seconds:
            return found, f"one forward+backward at length {L} took {elapsed:.1f} s; longer lengths not probed"
        below, L = L, L * 2
    return found, None


def _length_dependent_message(blocks: torch.nn.Module, found: dict[str, tuple[int, int]]) -> str:
    groups: dict[tuple[int, int], list[str]] = {}
    for name, span in found.items():
        groups.setdefault(span, []).append(name)
    parts = [f"used only past {below} tokens (no gradient on sequences of {below}, a gradient at {L}): "
             f"{_parameter_listing(blocks, names)}" for (below, L), names in sorted(groups.items())]
    return ("parameters " + "; ".join(parts) + "; they are length-dependent, not dead (e.g. a position table "
            "beyond the probe length): the checker's short probes and training on shorter sequences never train "
            "them")


def check_gradients(probe: Probe) -> CheckResult:
    cfg = probe.config
    lm = probe.lm()
    lm.train()
    batches = text_batches(1 + cfg.gradient_retry_steps, 4, GRADIENT_PROBE_LENGTH, cfg.seed + 3)
    used = _used_parameters(lm, batches[0])
    named = list(lm.blocks.named_parameters())
    sorting = _sort_gradients(named, used)
    if sorting.zero and cfg.gradient_retry_steps:
        sorting.zero = _still_zero(lm, named, sorting.zero, batches[1:], cfg.stability_lr)
    # No gradient on the probe's length: maybe used only on longer sequences.
    longer, stopped = _used_past(lm, named, sorting.unused + sorting.zero, GRADIENT_PROBE_LENGTH,
                                 cfg.gradient_long_length, cfg.seed + 8, cfg.complexity_max_seconds)
    sorting.unused = [n for n in sorting.unused if n not in longer]
    sorting.zero = [n for n in sorting.zero if n not in longer]
    details: dict[str, Any] = {
        "parameters": len(named), "unused": [_block_relative(n) for n in sorting.unused],
        "cut_off": [_block_relative(n) for n in sorting.cut + sorting.frozen],
        "zero": [_block_relative(n) for n in sorting.zero],
        "nonfinite": [_block_relative(n) for n in sorting.nonfinite],
        "length_dependent": {_block_relative(n): {"no_gradient_at": below, "gradient_at": L}
                             for n, (below, L) in longer.items()},
    }
    if stopped:
        details["long_probe_stopped"] = stopped
    problems, first = _gradient_problems(sorting, lm.blocks, cfg.gradient_retry_steps)
    if problems:
        return CheckResult("gradients", "fail", "; ".join(problems), details=details,
                           unit=unit_of(lm.blocks, first) if first else None)
    warnings = []
    if sorting.unused:
        warnings.append(f"parameters never used in the forward pass: "
                        f"{_parameter_listing(lm.blocks, sorting.unused)}; remove them (they waste memory and "
                        "count towards the size)")
    if longer:
        warnings.append(_length_dependent_message(lm.blocks, longer))
    if warnings:
        first = sorting.unused[0] if sorting.unused else next(iter(longer))
        return CheckResult("gradients", "warn", "; ".join(warnings), details=details,
                           unit=unit_of(lm.blocks, first))
    return CheckResult("gradients", "pass", f"all {len(named)} block parameters receive non-zero, finite gradients",
                       details=details)


# -- stability ----------------------------------------------------------------------------


def check_stability(probe: Probe) -> CheckResult:
    cfg = probe.config
    lm = probe.lm()
    lm.train()
    batches = text_batches(cfg.stability_steps, cfg.stability_batch, cfg.stability_seq_len, cfg.seed + 4)
    opt = torch.optim.AdamW(lm.parameters(), lr=cfg.stability_lr, weight_decay=0.0)
    bound = math.log(cfg.vocab_size) + cfg.loss_margin
    losses: list[float] = []
    norms: list[float] = []

    def details() -> dict[str, Any]:
        return {"losses": [round(x, 4) for x in losses], "grad_norms": [round(x, 4) for x in norms],
                "loss_bound": bound, "steps": cfg.stability_steps, "lr": cfg.stability_lr}

    for step, ids in enumerate(batches):
        try:
            loss = _lm_loss(lm, ids)
            value = loss.item()
            losses.append(value)
            if not math.isfinite(value):
                raise CheckFailed(f"the training loss is {value} at step {step} (losses {_fmt(losses)}): "
                                  "the design is numerically unstable; bound exponents and divisions, normalize "
                                  "states", **details())
            if value > bound:
                raise CheckFailed(f"the training loss is {value:.2f} at step {step}, above the bound "
                                  f"ln({cfg.vocab_size}) + {cfg.loss_margin} = {bound:.2f} (losses {_fmt(losses)}): "
                                  "outputs are far from calibrated; check the init scale and that the block "
                                  "output is not blowing up", **details())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0))
            norms.append(norm)
            if not math.isfinite(norm) or norm > cfg.max_grad_norm:
                raise CheckFailed(f"the gradient norm is {norm:.3g} at step {step}, above the bound "
                                  f"{cfg.max_grad_norm:g} (norms {_fmt(norms)}): gradients explode; bound the "
                                  "activations (normalization, gating, decays < 1)", **details())
            opt.step()
        except CheckFailed:
            raise
        except BaseException as err:
            raise describe_exception(err, f"training step {step}") from None
    first, last = losses[0], sum(losses[-5:]) / len(losses[-5:])
    if not last < first - cfg.min_loss_drop:
        raise CheckFailed(f"the loss did not fall: {first:.3f} at the first step, {last:.3f} over the last 5 of "
                          f"{len(losses)} AdamW steps (lr {cfg.stability_lr:g}; need a drop of at least "
                          f"{cfg.min_loss_drop}): the design does not learn; check that the block output reaches "
                          "the residual stream and that parameters are not frozen", **details())
    return CheckResult("stability", "pass", f"loss {first:.2f} -> {last:.2f} in {len(losses)} steps on English text; "
                       f"max gradient norm {max(norms):.2f}", details=details())


def _fmt(values: list[float]) -> str:
    if len(values) <= 8:
        return ", ".join(f"{v:.3g}" for v in values)
    return ", ".join(f"{v:.3g}" for v in values[:3]) + ", ..., " + ", ".join(f"{v:.3g}" for v in values[-5:])
