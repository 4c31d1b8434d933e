"""One verification end to end: check -> train -> evaluate -> `result.json`.

    python -m genesys.trainer.verification DESIGN.yaml --rung cpu-1 --out DIR [--tasks local]
    python -m genesys.trainer.verification --job JOB.yaml --out DIR     # the pod / subprocess path
    torchrun --standalone --nproc-per-node 2 -m genesys.trainer.verification ...

`result.json` is always written (atomically), also on failure, with `status`
(`succeeded` | `failed` | `interrupted`) and a machine-readable `reason`
(`invalid_design`, `check_failed`, `diverged`, `oom`, `error`, `preempted`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from genesys.api import Design, ManifestError, VerificationJob, load_manifest
from genesys.gau import SeedNotFoundError, UnitCompileError, load_design
from genesys.gau.determinism import pin_math
from genesys.trainer.data import DataConfig, heldout_documents
from genesys.trainer.presets import PresetError, RungConfig, get_rung, parse_overrides, with_overrides
from genesys.trainer.train import DivergedError, TrainOptions, setup_distributed, train

RESULT = "result.json"


def write_result(out_dir: Path, result: dict[str, Any]) -> Path:
    """Atomic: readers see the old file or the complete new one, never half of one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{RESULT}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, out_dir / RESULT)
    return out_dir / RESULT


def _check(design: Design) -> dict[str, Any]:
    from genesys.gau.checker import check_design

    return check_design(design).to_dict()


def _agree_passed(passed: bool, world: int) -> bool:
    if world == 1:
        return passed
    flag = torch.tensor([1.0 if passed else 0.0])
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def evaluate_trained(out_dir: Path, design: Design, rung: RungConfig, data: DataConfig, tasks: str,
                     d_model: int, n_block: int, seed: int) -> dict[str, Any]:
    from genesys.evaluation import evaluate
    from genesys.gau import build_lm
    from genesys.trainer.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(rung.vocab)
    model = build_lm(design, tokenizer.vocab_size, d_model, n_block)
    model.load_state_dict(torch.load(out_dir / "model.pt", map_location="cpu", weights_only=False)["model"])
    model.eval()
    result = evaluate(model, tokenizer, task_set=tasks, heldout_documents=heldout_documents(data),
                      out_dir=out_dir / "eval", limit=rung.eval_limit, seed=seed, max_length=rung.seq_len)
    return result.to_dict()


def verify(design_ref: str | Design, rung: RungConfig, out_dir: Path, tasks: str = "local",
           data: DataConfig | None = None, options: TrainOptions = TrainOptions(), check: bool = True) -> dict[str, Any]:
    """Run one verification and return (and write, on rank 0) its result."""
    math_settings = pin_math(options.threads)
    rank, world, _ = setup_distributed()
    started = time.time()
    data = data or DataConfig()
    result: dict[str, Any] = {"design": str(design_ref) if isinstance(design_ref, str) else design_ref.name,
                              "rung": rung.name, "config": {"rung": asdict(rung), "tasks": tasks,
                                                            "data": asdict(data), "options": asdict(options)},
                              "math": math_settings.to_dict()}

    def finish(status: str, reason: str | None = None, message: str = "", **fields: Any) -> dict[str, Any]:
        result.update(status=status, reason=reason, message=message, wall_seconds=time.time() - started, **fields)
        if rank == 0:
            write_result(out_dir, result)
        return result

    try:
        design = load_design(design_ref) if isinstance(design_ref, str) else design_ref
    except (ManifestError, SeedNotFoundError) as err:
        return finish("failed", "invalid_design", str(err))
    result["design"] = design.name
    if check:
        report = _check(design) if rank == 0 else {"passed": True}
        if not _agree_passed(report["passed"], world):
            failed = [c["name"] for c in report.get("checks", []) if c["status"] == "fail"]
            return finish("failed", "check_failed", f"the design failed the checks: {', '.join(failed)}", check=report)
        result["check"] = {"passed": True, "checks": [{k: c[k] for k in ("name", "status")} for c in report.get("checks", [])]}
    try:
        trained = train(design, rung, out_dir, data, options)
    except DivergedError as err:
        return finish("failed", "diverged", str(err))
    except (torch.OutOfMemoryError, MemoryError) as err:
        return finish("failed", "oom", f"out of memory: {err}; use a smaller micro_batch (--set micro_batch=...)")
    except (UnitCompileError, PresetError) as err:
        return finish("failed", "invalid_design", str(err))
    except Exception as err:  # a verification must always leave a result behind
        return finish("failed", "error", f"{type(err).__name__}: {err}", traceback=traceback.format_exc()[-4000:])
    train_fields = {k: v for k, v in asdict(trained).items() if k != "rank_checksums"}
    if not trained.completed:
        return finish("interrupted", "preempted", "stopped before the rung's token budget; rerun to resume",
                      train=train_fields)
    if rank != 0:
        return result
    try:
        scores = evaluate_trained(out_dir, design, rung, data, tasks, trained.d_model, trained.n_block, options.seed)
    except Exception as err:
        return finish("failed", "error", f"evaluation failed: {type(err).__name__}: {err}", train=train_fields,
                      traceback=traceback.format_exc()[-4000:])
    return finish("succeeded", train=train_fields, evaluation=scores, fitness=scores.get("fitness"),
                  fitness_stderr=scores.get("fitness_stderr"), params=trained.params, tokens=trained.tokens,
                  steps=trained.steps, final_loss=trained.final_loss, heldout_loss=trained.heldout_loss,
                  device_seconds=trained.device_seconds)


def job_arguments(job_file: Path) -> tuple[str, RungConfig, str, DataConfig, int, bool]:
    job = load_manifest(job_file, VerificationJob)
    rung = with_overrides(get_rung(job.spec.rung), {k: v for k, v in job.spec.overrides.items()})
    return job.spec.design, rung, job.spec.tasks, DataConfig(source=job.spec.data), job.spec.seed, job.spec.check


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genesys.trainer.verification", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("design", nargs="?", help="Design manifest path or seed name (or use --job)")
    ap.add_argument("--job", type=Path, help="a VerificationJob manifest (the pod / subprocess path)")
    ap.add_argument("--rung", default="cpu-1")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tasks", default="local", help="evaluation task set: local | paper9")
    ap.add_argument("--data", default="embedded")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a rung field")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-check", action="store_true", help="skip the symbolic checker")
    ap.add_argument("--metrics-port", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        if args.job:
            design, rung, tasks, data, seed, check = job_arguments(args.job)
        elif args.design:
            design, rung = args.design, with_overrides(get_rung(args.rung), parse_overrides(args.set))
            tasks, data, seed, check = args.tasks, DataConfig(source=args.data), args.seed, not args.no_check
        else:
            ap.error("give a DESIGN or --job FILE")
    except (PresetError, ManifestError) as err:
        ap.error(str(err))
    options = replace(TrainOptions(), metrics_port=args.metrics_port, seed=seed)
    try:
        result = verify(design, rung, args.out, tasks, data, options, check)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return {"succeeded": 0, "interrupted": 3}.get(result["status"], 1)


if __name__ == "__main__":
    raise SystemExit(main())
