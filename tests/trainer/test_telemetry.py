"""Training telemetry: metrics.jsonl on rank 0 and Prometheus gauges on loopback."""

from __future__ import annotations

import json
import socket
import urllib.request

import torch

from genesys.trainer.telemetry import Telemetry, count_step_flops, measure_peak_flops


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_jsonl_and_prometheus_gauges(tmp_path):
    port = _free_port()
    telemetry = Telemetry(tmp_path, rank=0, metrics_port=port, labels={"design": "gpt2", "rung": "debug"})
    try:
        telemetry.log({"step": 3, "loss": 4.5, "tokens_per_second": 1234.0, "mfu": 0.25}, echo=False)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        telemetry.close()
    assert 'genesys_train_loss{design="gpt2",rung="debug"} 4.5' in body
    assert 'genesys_train_tokens_per_second{design="gpt2",rung="debug"} 1234.0' in body
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["step"] == 3
    # a second run in the same process gets its own registry
    again = Telemetry(tmp_path, rank=0, metrics_port=_free_port(), labels={"design": "x", "rung": "y"})
    again.close()


def test_other_ranks_write_nothing(tmp_path):
    Telemetry(tmp_path, rank=1).log({"step": 1})
    assert not (tmp_path / "metrics.jsonl").exists()


def test_flop_count_and_peak_are_measured():
    model = torch.nn.Sequential(torch.nn.Embedding(16, 8), torch.nn.Linear(8, 16))
    flops = count_step_flops(model, torch.randint(0, 16, (2, 5)))
    assert flops == 3 * 2 * (2 * 4 * 8 * 16)  # forward matmul + two backward matmuls
    assert measure_peak_flops(torch.device("cpu"), size=256, repeats=2) > 1e8
