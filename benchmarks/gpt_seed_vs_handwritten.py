"""Training throughput of the gpt2 seed built from its unit tree vs a hand-written GPT.

Both models have the same shape and the same math (RoPE, fused SDPA, SwiGLU,
RMSNorm, tied head); the ratio measures the cost of the unit runtime alone.
Steps are interleaved (A, B, A, B, ...) so machine noise hits both alike.

    python benchmarks/gpt_seed_vs_handwritten.py [--rounds 12] [--batch 8] [--seq-len 256]

Prints one JSON object; `ratio` = seed tokens/s / hand-written tokens/s (target >= 0.95),
and `mfu`: achieved training FLOP/s (FLOPs counted by torch's FlopCounterMode) as a
fraction of this machine's fp32 matmul FLOP/s measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import build_lm, count_parameters, load_design
from genesys.trainer.telemetry import count_step_flops, measure_peak_flops


class Attention(nn.Module):
    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d // n_heads
        self.qkv_proj = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)
        inv_freq = 10000.0 ** (-torch.arange(0, self.head_dim, 2).float() / self.head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rotate(self, t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        t1, t2 = t.chunk(2, dim=-1)
        return t * cos + torch.cat([-t2, t1], dim=-1) * sin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv_proj(x).view(B, L, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        angles = torch.outer(torch.arange(L, dtype=torch.float32), self.inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        cos, sin = angles.cos(), angles.sin()
        q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(y.transpose(1, 2).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        hidden = 32 * -(-int(8 / 3 * d) // 32)
        self.gate_up_proj = nn.Linear(d, 2 * hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.attn_norm, self.mlp_norm = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.attn, self.mlp = Attention(d, n_heads), MLP(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class HandWrittenGPT(nn.Module):
    def __init__(self, vocab_size: int, d: int, n_block: int, n_heads: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d)
        self.blocks = nn.ModuleList(Block(d, n_heads) for _ in range(n_block))
        self.norm = nn.RMSNorm(d, eps=1e-5)
        self.lm_head = nn.Linear(d, vocab_size, bias=False)
        self.lm_head.weight = self.embedding.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.norm(x))


def train_step(model: nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor, vocab: int) -> float:
    t0 = time.perf_counter()
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-block", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=12, help="interleaved rounds (each: a few steps of each model)")
    ap.add_argument("--steps-per-round", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    seed = build_lm(load_design("gpt2"), args.vocab_size, args.d_model, args.n_block)
    ref = HandWrittenGPT(args.vocab_size, args.d_model, args.n_block, n_heads=seed.blocks[0].attn.n_heads)
    n_seed, n_ref = count_parameters(seed).total, count_parameters(ref).total
    assert n_seed == n_ref, f"shapes differ: seed {n_seed} vs hand-written {n_ref} parameters"
    models = {"seed": seed, "handwritten": ref}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-3) for k, m in models.items()}
    ids = torch.randint(0, args.vocab_size, (args.batch, args.seq_len + 1))
    for name, m in models.items():  # warm-up
        for _ in range(2):
            train_step(m, opts[name], ids, args.vocab_size)
    times: dict[str, list[float]] = {k: [] for k in models}
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:
            for _ in range(args.steps_per_round):
                times[name].append(train_step(models[name], opts[name], ids, args.vocab_size))
    tokens = args.batch * args.seq_len
    tps = {k: tokens / statistics.median(v) for k, v in times.items()}
    flops = {k: count_step_flops(m, ids) for k, m in models.items()}
    peak = measure_peak_flops(torch.device("cpu"))
    mfu = {k: flops[k] / statistics.median(times[k]) / peak for k in models}
    print(json.dumps({
        "benchmark": "gpt_seed_vs_handwritten",
        "shape": {"vocab_size": args.vocab_size, "d_model": args.d_model, "n_block": args.n_block,
                  "batch": args.batch, "seq_len": args.seq_len, "params": n_seed},
        "threads": args.threads,
        "steps_each": len(times["seed"]),
        "tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "ratio": round(tps["seed"] / tps["handwritten"], 4),
        "matmul_peak_gflops": round(peak / 1e9, 2),
        "mfu": {k: round(v, 4) for k, v in mfu.items()},
        "target": 0.95,
    }, indent=2))


if __name__ == "__main__":
    main()
