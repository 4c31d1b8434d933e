"""Pretrain one design at one rung: the same code as `python -m` and under torchrun.

    python -m genesys.trainer.train DESIGN.yaml --rung cpu-1 --out runs/x
    torchrun --standalone --nproc-per-node 2 -m genesys.trainer.train DESIGN.yaml --rung cpu-1 --out runs/x

DDP (gloo on CPU, nccl on CUDA), bf16 autocast + TF32 + optional torch.compile on
CUDA, optional FSDP2 for the largest rungs, gradient accumulation to the rung's
tokens per step, clipping, warmup + cosine/WSD. Checkpoints every N steps and on
SIGTERM; rerunning the same command resumes and reaches the same final loss.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from genesys.api import Design
from genesys.api.threads import THREADS_ENV, available_cores
from genesys.gau import build_lm, design_parameters, fit_to_params, load_design
from genesys.gau.determinism import ThreadFollower, pin_math
from genesys.trainer.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from genesys.trainer.data import DataConfig, PackedBatches, heldout_documents
from genesys.trainer.optim import build_optimizer, learning_rate
from genesys.trainer.presets import PresetError, RungConfig, get_rung, parse_overrides, with_overrides
from genesys.trainer.telemetry import ProgressBar, Telemetry, count_step_flops, measure_peak_flops
from genesys.trainer.tokenizer import TextTokenizer, load_tokenizer


class DivergedError(RuntimeError):
    """The loss became non-finite."""


@dataclass(frozen=True)
class TrainOptions:
    checkpoint_every: int = 50  # optimizer steps between checkpoints (0: only on SIGTERM and at the end)
    log_every: int = 10
    stop_after: int | None = None  # stop (with a checkpoint) after this many steps: tests, budgets
    metrics_port: int | None = None
    compile: bool = False  # torch.compile the model (CUDA only)
    fsdp: bool = False  # shard with FSDP2 instead of DDP (CUDA only)
    seed: int = 0
    threads: int | None = None  # math threads (None: $GENESYS_THREADS, else all cores); bits do not depend on it
    heldout_batches: int = 16  # batches of held-out text for the held-out loss


@dataclass
class TrainResult:
    steps: int
    tokens: int
    final_loss: float  # mean training loss over the last logging window
    heldout_loss: float
    wall_seconds: float
    device_seconds: float  # wall x processes: what a budget in device-hours is charged
    d_model: int
    n_block: int
    params: dict[str, int]
    reference_params: dict[str, int]
    mfu: float | None
    completed: bool  # False when stopped early (stop_after or SIGTERM)
    world_size: int  # training processes (torchrun ranks)
    rank_checksums: list[str]  # digest of the parameters on each rank: replicas must agree
    # What each rank trained on since this process started (a resumed run: since its checkpoint):
    rank_tokens: list[int]  # target tokens; they add up to the world's tokens
    rank_batches: list[str]  # digest of the token ids: ranks read disjoint shards, so they differ
    math: dict[str, Any]  # thread pools and reproducibility settings (genesys.gau.determinism)
    thread_history: list[tuple[int, int]]  # (step, threads) at the start and whenever the runtime re-shared cores


def process_threads(threads: int | None) -> int | None:
    """The threads to pin: `threads` or GENESYS_THREADS when given, else this process's share of the cores.

    torchrun starts LOCAL_WORLD_SIZE processes on one machine; each taking every core
    would oversubscribe them. (The local runtime sets GENESYS_THREADS to each process's
    share already.) None: let pin_math take every core.
    """
    if threads is not None or os.environ.get(THREADS_ENV, "").strip():
        return threads
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, available_cores() // local) if local > 1 else None


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world_size, device) from torchrun's environment; single process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        cuda = device.type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return rank, world, device


def size_design(design: Design, rung: RungConfig, vocab_size: int) -> tuple[int, int, dict, dict]:
    """Fit the design's depth to the GPT reference's non-embedding size at this rung."""
    reference = design_parameters(load_design("gpt2"), vocab_size, rung.d_model, rung.n_block)
    fit = fit_to_params(design, vocab_size, reference.non_embedding, rung.d_model, tolerance=rung.param_tolerance)
    return fit.d_model, fit.n_block, asdict(fit.params), asdict(reference)


def _loss(model: torch.nn.Module, ids: torch.Tensor, device: torch.device) -> torch.Tensor:
    ids = ids.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits, Z = model(ids[:, :-1], return_z=True)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
    aux = Z.get("aux_loss")  # e.g. mixture-of-experts load balancing
    return loss + aux if aux is not None else loss


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, tokenizer: TextTokenizer, data: DataConfig, seq_len: int,
                 batches: int, device: torch.device) -> float:
    """Mean next-token loss on packed held-out documents (never trained on)."""
    stream: list[int] = []
    need = batches * 8 * (seq_len + 1)
    for text in heldout_documents(data):
        stream.append(tokenizer.eos_id)
        stream.extend(tokenizer.encode(text))
        if len(stream) >= need:
            break
    rows = len(stream) // (seq_len + 1)
    if rows == 0:
        raise RuntimeError("the held-out documents are shorter than one sequence; use a longer held-out split")
    ids = torch.tensor(stream[: rows * (seq_len + 1)]).view(rows, seq_len + 1)
    model.eval()
    total = sum(_loss(model, chunk, device).item() * len(chunk) for chunk in ids.split(8))
    model.train()
    return total / rows


def train(design: Design, rung: RungConfig, out_dir: Path, data: DataConfig | None = None,
          options: TrainOptions = TrainOptions()) -> TrainResult:
    math_settings = pin_math(process_threads(options.threads))
    rank, world, device = setup_distributed()
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(rung.vocab)
    data = replace(data or DataConfig(), tokenizer=rung.vocab, seq_len=rung.seq_len, batch_size=rung.micro_batch,
                   seed=options.seed)
    d_model, n_block, params, reference = size_design(design, rung, tokenizer.vocab_size)
    torch.manual_seed(options.seed)
    model = build_lm(design, tokenizer.vocab_size, d_model, n_block).to(device)
    optimizer = build_optimizer(model, rung, fused=device.type == "cuda")
    batches = PackedBatches(data, tokenizer, rank, world)
    telemetry = Telemetry(out_dir, rank, options.metrics_port, {"design": design.name, "rung": rung.name})
    ckpt_root = out_dir / "checkpoints"
    step, elapsed, window = _resume(ckpt_root, model, optimizer, batches, telemetry)
    sample = next(PackedBatches(data, tokenizer, rank, world))
    flops_per_step = count_step_flops(model, sample) * rung.accumulation(world)
    peak = measure_peak_flops(device)
    wrapped = _parallelize(model, options, world, device)

    stop = {"signal": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(signal=True))
    accum = rung.accumulation(world)
    start, mfu = time.perf_counter() - elapsed, None
    follower = ThreadFollower.from_env()  # the runtime may give this run more cores when others finish
    thread_history = [(step, math_settings.threads)]
    rank_tokens, rank_batches = 0, hashlib.sha256()

    def checkpoint() -> None:
        save_checkpoint(ckpt_root, step, model, optimizer, batches.state_dict(),
                        {"wall_seconds": time.perf_counter() - start, "loss_window": window, "rung": asdict(rung)})

    with ProgressBar(rank, rung.steps, step, f"train {design.name} @ {rung.name}") as bar:
        try:
            while step < rung.steps:
                if (threads := follower.poll()) is not None:
                    thread_history.append((step, threads))
                    telemetry.log({"event": "threads", "step": step, "threads": threads})
                t0 = time.perf_counter()
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, rung)
                total, tokens = _accumulate(wrapped, batches, accum, device, rank_batches)
                rank_tokens += tokens
                total, stop_now = _agree_step(total, stop["signal"], world, device)
                if not math.isfinite(total):
                    raise DivergedError(f"loss became {total} at step {step}")
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), rung.grad_clip).item()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                window = (window + [total])[-options.log_every:]
                dt = time.perf_counter() - t0
                mfu = flops_per_step / dt / peak / world
                if step % options.log_every == 0 or step == rung.steps:
                    telemetry.log({"step": step, "loss": sum(window) / len(window), "lr": learning_rate(step - 1, rung),
                                   "grad_norm": grad_norm, "tokens": step * rung.tokens_per_step,
                                   "tokens_per_second": rung.tokens_per_step / dt, "mfu": mfu})
                bar.update(step, f"loss {total:.3f}")
                stop_now = stop_now or (options.stop_after is not None and step >= options.stop_after)
                periodic = options.checkpoint_every and step % options.checkpoint_every == 0
                if stop_now or periodic or step == rung.steps:
                    checkpoint()
                if stop_now:
                    break
        finally:
            signal.signal(signal.SIGTERM, previous)
            telemetry.close()

    wall = time.perf_counter() - start
    held = heldout_loss(model, tokenizer, data, rung.seq_len, options.heldout_batches, device)
    per_rank = gather(world, (parameter_checksum(model), rank_tokens, rank_batches.hexdigest()))
    result = TrainResult(
        steps=step, tokens=step * rung.tokens_per_step, final_loss=sum(window) / max(1, len(window)),
        heldout_loss=held, wall_seconds=wall, device_seconds=wall * world, d_model=d_model, n_block=n_block,
        params=params, reference_params=reference, mfu=mfu, completed=step >= rung.steps, world_size=world,
        rank_checksums=[r[0] for r in per_rank], rank_tokens=[r[1] for r in per_rank],
        rank_batches=[r[2] for r in per_rank], math=math_settings.to_dict(), thread_history=thread_history,
    )
    if rank == 0:
        torch.save({"model": model.state_dict(), "d_model": d_model, "n_block": n_block,
                    "vocab": rung.vocab, "design": design.name}, out_dir / "model.pt")
        (out_dir / "train.json").write_text(json.dumps(asdict(result), indent=2))
    return result


def _resume(ckpt_root: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: PackedBatches,
            telemetry: Telemetry) -> tuple[int, float, list[float]]:
    """(step, wall seconds, loss window) of the latest checkpoint, loaded into model, optimizer and
    batches; (0, 0.0, []) without one. The window holds the last log_every step losses."""
    found = latest_checkpoint(ckpt_root)
    if found is None:
        return 0, 0.0, []
    extra, data_state = load_checkpoint(found, model, optimizer)
    batches.load_state_dict(data_state)
    telemetry.log({"event": "resumed", "step": extra["step"], "checkpoint": found.name})
    return extra["step"], extra["wall_seconds"], extra["loss_window"]


def _parallelize(model: torch.nn.Module, options: TrainOptions, world: int, device: torch.device) -> torch.nn.Module:
    """What the steps run: the model sharded in place by FSDP2, wrapped in DDP, or the model
    itself; compiled when asked for. FSDP and compilation are for CUDA only."""
    cuda = device.type == "cuda"
    if options.fsdp and cuda:
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        wrapped = model
    elif world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    else:
        wrapped = model
    if options.compile and cuda:
        wrapped = torch.compile(wrapped)
    return wrapped


def _accumulate(wrapped: torch.nn.Module, batches: PackedBatches, accum: int, device: torch.device,
                rank_batches: Any) -> tuple[float, int]:
    """Forward and backward over one step's `accum` micro-batches: (the step's loss, its target
    tokens). DDP all-reduces the gradients on the last micro-batch only; `rank_batches` (a hash)
    takes every batch's token ids."""
    total, tokens = 0.0, 0
    for micro in range(accum):
        sync = micro == accum - 1 or not isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
        ctx = wrapped.no_sync() if not sync else contextlib.nullcontext()
        ids = next(batches)
        tokens += ids[:, 1:].numel()
        rank_batches.update(ids.numpy().tobytes())
        with ctx:
            loss = _loss(wrapped, ids, device) / accum
            loss.backward()
        total += loss.item()
    return total, tokens


def _agree_step(loss: float, stop: bool, world: int, device: torch.device) -> tuple[float, bool]:
    """The world's mean loss of a step and whether any rank wants to stop, the same on every rank.

    Each rank's loss is its own batches'; were divergence judged on it, one rank could
    raise while the others wait for it in the next step's all-reduce. A NaN anywhere
    makes the sum NaN, so every rank raises at the same step. SIGTERM reaches ranks at
    different moments, so stopping is agreed too.
    """
    if world == 1:
        return loss, stop
    t = torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t[0].item() / world, t[1].item() > 0


def gather(world: int, value: Any) -> list[Any]:
    """`value` of every rank, in rank order (collective)."""
    if world == 1:
        return [value]
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, value)
    return gathered


def parameter_checksum(model: torch.nn.Module) -> str:
    """sha256 of this rank's parameters."""
    digest = hashlib.sha256()
    for p in model.parameters():
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m genesys.trainer.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("design", help="a Design manifest path or a seed name")
    ap.add_argument("--rung", default="cpu-1", help="rung preset (cpu-1..3, paper-14m..paper-350m, debug)")
    ap.add_argument("--out", type=Path, required=True, help="output directory (checkpoints, metrics.jsonl, model.pt)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a rung field")
    ap.add_argument("--data", default="embedded", help="'embedded', local .txt/.jsonl paths or globs, or a hub dataset")
    ap.add_argument("--checkpoint-every", type=int, default=TrainOptions.checkpoint_every)
    ap.add_argument("--stop-after", type=int, default=None, help="stop with a checkpoint after this many steps")
    ap.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus gauges on 127.0.0.1:PORT")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    ap.add_argument("--fsdp", action="store_true", help="FSDP2 sharding instead of DDP (CUDA)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="math threads per process (default: $GENESYS_THREADS, else every available core)")
    args = ap.parse_args(argv)
    try:
        rung = with_overrides(get_rung(args.rung), parse_overrides(args.set))
    except PresetError as err:
        ap.error(str(err))
    options = TrainOptions(checkpoint_every=args.checkpoint_every, stop_after=args.stop_after,
                           metrics_port=args.metrics_port, compile=args.compile, fsdp=args.fsdp, seed=args.seed,
                           threads=args.threads)
    try:
        train(load_design(args.design), rung, args.out, DataConfig(source=args.data), options)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
