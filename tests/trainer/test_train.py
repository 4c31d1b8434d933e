"""Training at a rung: presets, schedules, exact resume after a kill, DDP replicas in step."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

from genesys.gau import load_design
from genesys.trainer.optim import learning_rate
from genesys.trainer.presets import PresetError, cpu_ladder, get_rung, paper_ladder, with_overrides
from genesys.trainer.train import TrainOptions, train

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
# 12 optimizer steps of 1,024 tokens: seconds on a CPU.
FAST = {"tokens": 12_288}


def test_paper_ladder_matches_the_paper():
    ladder = paper_ladder()
    assert [(r.d_model, r.n_block) for r in ladder] == [(128, 6), (256, 6), (512, 6), (768, 12), (1024, 24)]
    assert [r.lr for r in ladder] == [1e-3, 1e-3, 1e-3, 6e-4, 3e-4]
    assert [r.tokens for r in ladder] == [14e6 * 50, 31e6 * 40, 70e6 * 30, 125e6 * 20, 350e6 * 20]
    assert all(r.seq_len == 2048 and r.tokens_per_step == 524_288 for r in ladder)
    assert ladder[0].accumulation(world_size=8) == 4


def test_ladder_presets_of_the_api_name_the_trainer_rungs():
    """genesys.api.LADDER_PRESETS (what Evolution manifests may name) matches the trainer's ladders."""
    from genesys.api import LADDER_PRESETS
    from genesys.trainer.presets import LADDERS

    assert {name: tuple(r.name for r in ladder()) for name, ladder in LADDERS.items()} == LADDER_PRESETS


def test_rung_lookup_and_overrides_fail_clearly():
    assert [r.name for r in cpu_ladder()] == ["cpu-1", "cpu-2", "cpu-3"]
    with pytest.raises(PresetError, match="did you mean cpu-1"):
        get_rung("cpu1")
    assert with_overrides(get_rung("cpu-1"), {"lr": "2e-3", "tokens": "2e6"}).tokens == 2_000_000
    with pytest.raises(PresetError, match="no field 'lrr'; did you mean lr"):
        with_overrides(get_rung("cpu-1"), {"lrr": "1"})
    with pytest.raises(PresetError, match="not a multiple"):
        with_overrides(get_rung("cpu-1"), {"micro_batch": "3"}).accumulation(1)


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_schedules_warm_up_and_decay_to_the_floor(schedule):
    rung = with_overrides(get_rung("cpu-1"), {"schedule": schedule})
    lrs = [learning_rate(s, rung) for s in range(rung.steps)]
    warm = round(rung.warmup_fraction * rung.steps)
    assert lrs[0] < lrs[warm - 1] == pytest.approx(rung.lr)
    assert lrs[-1] == pytest.approx(rung.lr * rung.min_lr_ratio, rel=0.05)
    assert all(a >= b - 1e-12 for a, b in pairwise(lrs[warm:]))


def _cmd(out: Path, *extra: str) -> list[str]:
    sets = [f"--set={k}={v}" for k, v in FAST.items()]
    return [sys.executable, "-m", "genesys.trainer.train", "gpt2", "--rung", "debug", "--out", str(out), *sets, *extra]


def test_resume_after_kill_reproduces_the_uninterrupted_run(tmp_path):
    rung = with_overrides(get_rung("debug"), FAST)
    reference = train(load_design("gpt2"), rung, tmp_path / "straight", options=TrainOptions(checkpoint_every=0))

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(out, "--checkpoint-every", "3"), env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (out / "checkpoints" / "step-6").exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = train(load_design("gpt2"), rung, out, options=TrainOptions(checkpoint_every=3))

    assert resumed.steps == reference.steps == 12
    assert resumed.final_loss == pytest.approx(reference.final_loss, abs=1e-6)
    assert resumed.rank_checksums == reference.rank_checksums  # bit-identical parameters
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "resumed" and e["step"] >= 6 for e in events)


@contextlib.contextmanager
def cpu_load(processes: int):
    """Busy loops on every core, so the run under test is descheduled often."""
    spin = "import time\nend = time.time() + 300\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(processes)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.mark.parametrize("design", ["gpt2", "mamba2", "retnet", "rwkv6", "ttt"])
def test_training_gives_the_same_bits_on_one_idle_thread_and_two_loaded_ones(design, tmp_path):
    """A verification's result depends on (design, rung, seed), never on its threads or the machine's load."""
    rung = with_overrides(get_rung("cpu-1"), {"tokens": 16_384})
    idle = train(load_design(design), rung, tmp_path / "idle", options=TrainOptions(checkpoint_every=0, threads=1))
    with cpu_load(2):
        loaded = train(load_design(design), rung, tmp_path / "loaded",
                       options=TrainOptions(checkpoint_every=0, threads=2))
    assert (idle.math["threads"], loaded.math["threads"]) == (1, 2)
    assert idle.thread_history == [(0, 1)] and loaded.thread_history == [(0, 2)]
    assert idle.rank_checksums == loaded.rank_checksums
    assert idle.heldout_loss == loaded.heldout_loss


def test_sigterm_checkpoints_and_exits_then_resumes(tmp_path):
    # 120 steps: the first progress record comes at step 10, and the stop is honoured at the next
    # step boundary, so the run must be long enough not to finish before SIGTERM lands (on an idle
    # machine the 12 steps of FAST ended first: the run completed, correctly, but proved nothing)
    out = tmp_path / "preempted"
    long = [*_cmd(out), "--set=tokens=122880"]
    proc = subprocess.Popen([*long, "--checkpoint-every", "0"], env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (out / "metrics.jsonl").exists():  # the first progress record: training is under way
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    saved = json.loads((out / "train.json").read_text())
    assert not saved["completed"] and (out / "checkpoints" / "latest").exists()
    subprocess.run(long, env=ENV, check=True, capture_output=True)
    resumed = json.loads((out / "train.json").read_text())
    assert resumed["completed"] and resumed["steps"] == 120


def test_two_process_gloo_replicas_end_identical(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "genesys.trainer.train", "gpt2", "--rung", "debug", "--out", str(out), "--set=micro_batch=4",
           "--set=tokens=8192"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "train.json").read_text())
    assert len(result["rank_checksums"]) == 2
    assert result["rank_checksums"][0] == result["rank_checksums"][1]
    assert result["steps"] == 8 and result["device_seconds"] == pytest.approx(2 * result["wall_seconds"])
