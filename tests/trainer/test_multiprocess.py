"""A verification under torchrun (two gloo processes on CPU): every rank trains, rank 0 writes one result.json.

The failure tests start the ranks themselves, with torchrun's environment, so that they
see every rank's exit code (torchrun reports only the first failure and stops the rest).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from genesys.api import dump_manifest
from genesys.api.threads import THREADS_ENV, available_cores
from genesys.gau import seed_design

# GENESYS_THREADS is left unset: each rank must take its share of the cores by itself.
ENV = {k: v for k, v in os.environ.items() if k not in (THREADS_ENV, "OMP_NUM_THREADS")}
ENV.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
# 4 optimizer steps of 1,024 tokens, 2 micro-batches of 4 x 64 tokens per rank and step (accumulation
# with DDP's no_sync); 10 items per evaluation task.
TINY = ["--rung", "debug", "--set", "tokens=4096", "--set", "micro_batch=4", "--set", "eval_limit=10"]
TIMEOUT = 600


def _torchrun(out: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "genesys.trainer.verification", *args, "--out", str(out)]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ranks(out: Path, *args: str, entry: tuple[str, ...] = ("-m", "genesys.trainer.verification"),
           env: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(exit code, stderr) of both ranks of one verification, each started with torchrun's environment."""
    port, logs = str(_free_port()), [out.with_name(f"rank{r}.log") for r in range(2)]
    with logs[0].open("w") as log0, logs[1].open("w") as log1:  # files, not pipes: a full pipe would stall a rank
        procs = [subprocess.Popen([sys.executable, *entry, *args, "--out", str(out)],
                                  env={**ENV, **(env or {}), "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                       "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port},
                                  stdout=subprocess.DEVNULL, stderr=log)
                 for r, log in enumerate((log0, log1))]
        try:
            codes = [p.wait(timeout=TIMEOUT) for p in procs]
        finally:
            for p in procs:
                p.kill()
    return [(code, log.read_text()) for code, log in zip(codes, logs, strict=True)]


def _result_files(out: Path) -> list[Path]:
    """result.json files and their temporary siblings anywhere under `out`."""
    return sorted(p for p in out.rglob("*") if p.name == "result.json" or p.name.startswith(".result.json"))


def test_two_ranks_train_on_their_own_shards_and_rank_0_writes_the_one_result(tmp_path):
    out = tmp_path / "out"
    done = _torchrun(out, "gpt2", *TINY)
    assert done.returncode == 0, done.stderr[-4000:]
    assert _result_files(out) == [out / "result.json"]  # one complete file, no second writer, no leftover temp file
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "succeeded", result.get("message")
    train = result["train"]
    assert train["world_size"] == 2 and result["check"]["passed"]
    assert train["steps"] == 4 and train["tokens"] == 4096 and 0 <= result["fitness"] <= 1
    assert train["device_seconds"] > train["wall_seconds"]  # charged for both processes
    assert result["math"]["threads"] == max(1, available_cores() // 2)  # each rank pinned its share
    trained = json.loads((out / "train.json").read_text())
    assert len(trained["rank_checksums"]) == 2 and trained["rank_checksums"][0] == trained["rank_checksums"][1]
    assert trained["rank_batches"][0] != trained["rank_batches"][1]  # each rank read its own shard
    assert trained["rank_tokens"] == [2048, 2048] and sum(trained["rank_tokens"]) == trained["tokens"]


def test_a_design_failing_the_check_on_rank_0_stops_every_rank(tmp_path):
    design = seed_design("gpt2")
    design.spec.tree.units["GatedMLP"].code = "import os\n" + design.spec.tree.units["GatedMLP"].code
    (tmp_path / "bad.yaml").write_text(dump_manifest(design))
    ranks = _ranks(tmp_path / "out", str(tmp_path / "bad.yaml"), *TINY)
    assert [code for code, _ in ranks] == [1, 1], ranks[0][1][-3000:] + ranks[1][1][-3000:]
    assert _result_files(tmp_path / "out") == [tmp_path / "out" / "result.json"]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "failed" and result["reason"] == "check_failed" and "format" in result["message"]
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_an_evaluation_failing_on_rank_0_fails_every_rank(tmp_path):
    ranks = _ranks(tmp_path / "out", "gpt2", "--no-check", *TINY, "--set", "tokens=1024", "--tasks", "no-such-tasks")
    assert [code for code, _ in ranks] == [1, 1], ranks[0][1][-3000:] + ranks[1][1][-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "failed" and result["message"].startswith("evaluation failed")
    assert result["train"]["world_size"] == 2


# Rank 1's third micro-batch goes wrong (a NaN loss, or an error of its own); rank 0's never does.
INJECT = """
import os, sys
import genesys.trainer.train as train
from genesys.trainer.verification import main

if os.environ["RANK"] == "1":
    loss, calls = train._loss, []

    def injected(*args):
        calls.append(args)
        if len(calls) == 3 and os.environ["INJECT"] == "nan":
            return loss(*args) * float("nan")
        if len(calls) == 3:
            raise MemoryError("injected on rank 1")
        return loss(*args)

    train._loss = injected
sys.exit(main(sys.argv[1:]))
"""


def test_a_loss_diverging_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    ranks = _ranks(tmp_path / "out", "gpt2", "--no-check", *TINY, entry=("-c", INJECT), env={"INJECT": "nan"})
    assert [code for code, _ in ranks] == [1, 1], ranks[0][1][-3000:] + ranks[1][1][-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["reason"] == "diverged" and result["message"] == "loss became nan at step 1"
    assert "rank 1: failed (diverged): loss became nan at step 1" in ranks[1][1]


def test_an_error_on_one_rank_fails_the_run_without_hanging(tmp_path):
    ranks = _ranks(tmp_path / "out", "gpt2", "--no-check", *TINY, entry=("-c", INJECT), env={"INJECT": "error"})
    assert [code for code, _ in ranks] == [1, 1], ranks[0][1][-3000:] + ranks[1][1][-3000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "failed" and "remote worker crashing" in result["message"]  # what rank 0 saw
    assert "rank 1: failed (oom): out of memory: injected on rank 1" in ranks[1][1]  # and the cause, in rank 1's log
