"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from quick_runs import run_quick
from result_builders import build_result


@pytest.fixture
def make_result():
    """`build_result`: a result.json as the trainer writes it, built through VerificationResult."""
    return build_result


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> Path:
    """One uninterrupted local run of examples/evolution-quick.yaml: the reference that resumed runs
    and runs on other stores must reproduce (made once, it takes minutes)."""
    run_dir = tmp_path_factory.mktemp("quick") / "run"
    run_quick(run_dir)
    return run_dir
