"""Fixtures shared by every test package."""

from __future__ import annotations

import json
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


# The dashboards the Helm chart ships, and every panel query (observability and end-to-end tests).
DASHBOARDS = Path(__file__).resolve().parents[1] / "charts" / "genesys" / "dashboards"


def _panel_queries(model: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, rows' panels included."""
    panels = list(model.get("panels", []))
    for row in [p for p in panels if p.get("type") == "row"]:
        panels.extend(row.get("panels", []))
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


@pytest.fixture(scope="session")
def dashboards_dir() -> Path:
    return DASHBOARDS


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict]:
    """file name -> the dashboard's JSON model, as the Helm chart ships it."""
    found = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}
    assert found, f"no dashboards in {DASHBOARDS}: python -m genesys.observability.dashboards --out {DASHBOARDS}"
    return found


@pytest.fixture(scope="session")
def dashboard_queries(dashboards) -> list[tuple[str, str, str]]:
    """(file, panel title, PromQL) of every panel query of every committed dashboard."""
    return [(name, title, expr) for name, model in dashboards.items() for title, expr in _panel_queries(model)]
