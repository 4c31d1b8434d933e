"""One verification end to end: check -> train -> evaluate -> `result.json`.

    python -m genesys.trainer.verification DESIGN.yaml --rung cpu-1 --out DIR [--tasks local]
    python -m genesys.trainer.verification --job JOB.yaml --out DIR     # the pod / subprocess path
    torchrun --standalone --nproc-per-node 2 -m genesys.trainer.verification ...

`result.json` (a `genesys.api.results.VerificationResult`) is always written
(atomically), also on failure, with `status` (`succeeded` | `failed` | `interrupted`)
and a machine-readable `reason` (genesys.api.vocabulary.VerificationFailure).

OUT, the job and the job's design may be store URLs (s3://..., genesys.api.storage).
For a remote OUT, training, checkpoints and evaluation files stay in a local work dir
(genesys.api.storage.work_dir: the same on every start, so a restart resumes), and
metrics.jsonl and train.json are uploaded before result.json, which comes last.

Under torchrun every rank trains (DDP) and rank 0 alone checks, evaluates and writes
`result.json`; every rank ends with the same status and exit code. Failures that one
rank finds before training (the check, a design that does not load) and divergence and
preemption during training are agreed between the ranks. An unexpected error on one rank
ends that rank at once; its peers then fail in their next collective and torchrun stops
them, so the run fails as a whole and rank 0 writes what it saw.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from genesys.api import Design, ManifestError, VerificationJob, storage
from genesys.api.artifacts import METRICS_FILE, RESULT_FILE
from genesys.api.results import EvaluationSummary, VerificationResult
from genesys.gau import SeedNotFoundError, UnitCompileError, load_design
from genesys.gau.determinism import pin_math
from genesys.trainer.data import DataConfig, heldout_documents
from genesys.trainer.presets import PresetError, RungConfig, get_rung, parse_overrides, with_overrides
from genesys.trainer.train import (
    DivergedError,
    TrainOptions,
    TrainResult,
    gather,
    process_threads,
    setup_distributed,
    train,
)

# How long the other ranks wait for rank 0's evaluation. The default process group's
# timeout (10 minutes with NCCL, 30 with gloo) could end them mid-evaluation, and torchrun
# would then stop rank 0 too; a rank 0 that hangs is the runtime's to kill.
RESULT_WAIT = timedelta(days=1)


TRAIN_FILE = "train.json"  # per-rank evidence of training (parameter checksums, tokens, batch digests)


def write_result(out: str | Path, result: VerificationResult, work: Path | None = None) -> str:
    """Atomic: readers see the old file or the complete new one, never half of one. The files a
    remote `out` needs from the local `work` dir go first, so a result that exists has them."""
    out = str(out)
    if work is not None and not storage.is_local(out):
        for name in (METRICS_FILE, TRAIN_FILE):
            if (work / name).exists():
                storage.upload(work / name, storage.join(out, name))
    url = storage.join(out, RESULT_FILE)
    storage.write_text(url, result.to_json())
    return url


def _load_design(ref: str) -> Design:
    """A seed name, a Design file, or a Design in the store (a URL such as s3://...)."""
    if "://" in ref:
        return storage.read_manifest(ref, Design)
    return load_design(ref)


def _checked(design: Design, result: dict[str, Any]) -> dict[str, Any] | None:
    """Run the symbolic checker: None when the design passed (noted in `result`), else the failure."""
    from genesys.gau.checker import check_design

    try:
        report = check_design(design).to_model()
    except Exception as err:  # the other ranks wait for the verdict: a crash must still give one
        return {"reason": "error", "message": f"the checker failed: {type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-4000:]}
    if not report.passed:
        failed = [c.name for c in report.failures]
        return {"reason": "check_failed", "message": f"the design failed the checks: {', '.join(failed)}",
                "check": report}
    result["check"] = report
    return None


def _first_failure(failure: dict[str, Any] | None, world: int) -> dict[str, Any] | None:
    """The failure of the lowest failing rank, on every rank (None: every rank goes on)."""
    return next((f for f in gather(world, failure) if f is not None), None)


def _result_group(world: int) -> dist.ProcessGroup | None:
    """A gloo group with a deadline long enough to wait out an evaluation (collective: every rank creates it)."""
    return dist.new_group(backend="gloo", timeout=RESULT_WAIT) if world > 1 else None


def _rank0_result(result: VerificationResult | None, group: dist.ProcessGroup | None) -> VerificationResult:
    """Rank 0's final result, on every rank (collective): the others wait here while rank 0 evaluates."""
    box = [result]
    if group is not None:
        dist.broadcast_object_list(box, src=0, group=group)
    assert box[0] is not None
    return box[0]


def evaluate_trained(out_dir: Path, design: Design, rung: RungConfig, data: DataConfig, tasks: str,
                     d_model: int, n_block: int, seed: int) -> EvaluationSummary:
    from genesys.evaluation import evaluate
    from genesys.gau import build_lm
    from genesys.trainer.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(rung.vocab)
    model = build_lm(design, tokenizer.vocab_size, d_model, n_block)
    model.load_state_dict(torch.load(out_dir / "model.pt", map_location="cpu", weights_only=False)["model"])
    model.eval()
    result = evaluate(model, tokenizer, task_set=tasks, heldout_documents=heldout_documents(data),
                      out_dir=out_dir / "eval", limit=rung.eval_limit, seed=seed, max_length=rung.seq_len)
    return EvaluationSummary.model_validate(result.to_dict())


def _loaded(design_ref: str | Design, check: bool, rank: int, world: int,
            fields: dict[str, Any]) -> tuple[Design | None, dict[str, Any] | None]:
    """The design, checked on rank 0 when asked; a failure (the same on every rank) as a failed result's fields."""
    failure: dict[str, Any] | None = None
    design = None
    try:
        design = _load_design(design_ref) if isinstance(design_ref, str) else design_ref
    except (ManifestError, SeedNotFoundError, storage.StoreError, OSError) as err:  # OSError: the store's reads
        unreadable = isinstance(err, (storage.StoreError, OSError))
        failure = {"reason": "error" if unreadable else "invalid_design", "message": str(err)}
    else:
        fields["design"] = design.name
        if check and rank == 0:
            failure = _checked(design, fields)
    return design, _first_failure(failure, world)


def _trained(design: Design, rung: RungConfig, work: Path, data: DataConfig,
             options: TrainOptions) -> TrainResult | dict[str, Any]:
    """train(), or its failure as a failed result's fields.

    Divergence and preemption are agreed inside train(), so every rank leaves it with the
    same outcome. Any other error is this rank's alone: it returns without another
    collective, which its peers could not match.
    """
    try:
        return train(design, rung, work, data, options)
    except DivergedError as err:
        return {"reason": "diverged", "message": str(err)}
    except (torch.OutOfMemoryError, MemoryError) as err:
        return {"reason": "oom", "message": f"out of memory: {err}; use a smaller micro_batch (--set micro_batch=...)"}
    except (UnitCompileError, PresetError) as err:
        return {"reason": "invalid_design", "message": str(err)}
    except Exception as err:  # a verification must always leave a result behind
        return {"reason": "error", "message": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-4000:]}


def _evaluated(work: Path, design: Design, rung: RungConfig, data: DataConfig, tasks: str, trained: TrainResult,
               seed: int) -> dict[str, Any]:
    """Rank 0's evaluation of the trained model, as the fields of the final result."""
    try:
        scores = evaluate_trained(work, design, rung, data, tasks, trained.d_model, trained.n_block, seed)
    except Exception as err:
        return {"status": "failed", "reason": "error", "message": f"evaluation failed: {type(err).__name__}: {err}",
                "traceback": traceback.format_exc()[-4000:]}
    return {"status": "succeeded", "evaluation": scores, "fitness": scores.fitness,
            "fitness_stderr": scores.fitness_stderr, "scores": {t: s.score for t, s in scores.scores.items()},
            "baselines": {t: s.baseline for t, s in scores.scores.items() if s.baseline is not None}}


def verify(design_ref: str | Design, rung: RungConfig, out: str | Path, tasks: str = "local",
           data: DataConfig | None = None, options: TrainOptions = TrainOptions(), check: bool = True,
           attempt: int = 1) -> VerificationResult:
    """Run one verification and return its result (the same status on every rank); rank 0 writes it.
    `out`: a directory or store URL. `attempt`: which start of this verification this is (the runtime's job says)."""
    work = storage.work_dir(str(out))
    math_settings = pin_math(process_threads(options.threads))
    rank, world, _ = setup_distributed()
    result_group = _result_group(world)
    started = time.time()
    data = data or DataConfig()
    fields: dict[str, Any] = {"design": str(design_ref) if isinstance(design_ref, str) else design_ref.name,
                              "rung": rung.name, "attempt": attempt, "math": math_settings.to_dict(),
                              "config": {"rung": asdict(rung), "tasks": tasks, "data": asdict(data),
                                         "options": asdict(options)}}

    def finish(status: str, reason: str | None = None, message: str = "", **more: Any) -> VerificationResult:
        result = VerificationResult.model_validate({**fields, **more, "status": status, "reason": reason,
                                                    "message": message, "wall_seconds": time.time() - started})
        if rank == 0:
            write_result(out, result, work)
        else:  # only rank 0 writes result.json: this rank's log keeps why it stopped
            print(f"rank {rank}: {status} ({reason}): {message}\n{more.get('traceback', '')}".rstrip(),
                  file=sys.stderr)
        return result

    design, failure = _loaded(design_ref, check, rank, world, fields)
    if failure is not None or design is None:
        return finish("failed", **(failure or {}))
    trained = _trained(design, rung, work, data, options)
    if not isinstance(trained, TrainResult):
        return finish("failed", **trained)
    # per-rank evidence (parameter checksums, tokens, batch digests) stays in train.json
    train_fields = {k: v for k, v in asdict(trained).items() if not k.startswith("rank_")}
    if not trained.completed:
        return finish("interrupted", "preempted", "stopped before the rung's token budget; rerun to resume",
                      train=train_fields)
    if rank != 0:
        try:
            return _rank0_result(None, result_group)
        except RuntimeError as err:
            return finish("failed", "error", f"rank 0 ended before it shared the result ({err}); see its log")
    if world > 1:  # the other ranks wait idle: rank 0 evaluates on their threads too (results do not depend on threads)
        torch.set_num_threads(torch.get_num_threads() * int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    outcome = finish(**_evaluated(work, design, rung, data, tasks, trained, options.seed), train=train_fields)
    with contextlib.suppress(RuntimeError):  # result.json is written: a rank that is gone does not change it
        _rank0_result(outcome, result_group)
    return outcome


@dataclass(frozen=True)
class JobInputs:
    """What a VerificationJob asks for, resolved: the design reference, the rung with its overrides, ..."""

    design: str
    rung: RungConfig
    tasks: str
    data: DataConfig
    seed: int
    check: bool
    attempt: int


def job_inputs(job_file: str | Path) -> JobInputs:
    """The job at a path or store URL (a missing or invalid one is a ManifestError)."""
    spec = storage.read_manifest(str(job_file), VerificationJob).spec
    return JobInputs(spec.design, with_overrides(get_rung(spec.rung), spec.overrides), spec.tasks,
                     DataConfig(source=spec.data), spec.seed, spec.check, spec.attempt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genesys.trainer.verification", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("design", nargs="?", help="Design manifest path or seed name (or use --job)")
    ap.add_argument("--job", help="a VerificationJob manifest, a path or store URL (the pod / subprocess path)")
    ap.add_argument("--rung", default="cpu-1")
    ap.add_argument("--out", required=True, help="the output directory: a path or store URL (s3://...)")
    ap.add_argument("--tasks", default="local", help="evaluation task set: local | paper9")
    ap.add_argument("--data", default="embedded")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a rung field")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-check", action="store_true", help="skip the symbolic checker")
    ap.add_argument("--metrics-port", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        if args.job:
            job = job_inputs(args.job)
        elif args.design:
            job = JobInputs(args.design, with_overrides(get_rung(args.rung), parse_overrides(args.set)), args.tasks,
                            DataConfig(source=args.data), args.seed, not args.no_check, attempt=1)
        else:
            ap.error("give a DESIGN or --job FILE")
    except (PresetError, ManifestError, storage.StoreError) as err:
        ap.error(str(err))
    options = replace(TrainOptions(), metrics_port=args.metrics_port, seed=job.seed)
    try:
        result = verify(job.design, job.rung, args.out, job.tasks, job.data, options, job.check, job.attempt)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return {"succeeded": 0, "interrupted": 3}.get(result.status, 1)


if __name__ == "__main__":
    raise SystemExit(main())
