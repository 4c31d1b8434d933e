"""`genesys designs ...` through the real console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from genesys.cli.main import app

runner = CliRunner()


def test_help_runs_without_torch():
    code = "import sys; from genesys.cli.main import app; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_seeds_lists_every_seed_with_parameter_counts():
    result = runner.invoke(app, ["library", "seeds", "--d-model", "64", "--n-block", "2"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for seed in ("gpt2", "mamba2", "retnet", "rwkv6", "ttt"):
        assert seed in result.output
    assert "NON-EMBEDDING" in result.output


def test_units_filters_by_role_and_rejects_unknown_roles():
    result = runner.invoke(app, ["library", "units", "--role", "norm"], terminal_width=200)
    assert result.exit_code == 0 and "RMSNorm" in result.output and "GPT2Block" not in result.output
    result = runner.invoke(app, ["library", "units", "--role", "mixer"])
    assert result.exit_code == 2 and "unknown role 'mixer'" in result.output


def test_export_writes_loadable_manifests(tmp_path: Path):
    result = runner.invoke(app, ["library", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "gpt2.yaml").read_text())
    assert data["kind"] == "Design" and data["spec"]["tree"]["root"] == "GPT2Block"
