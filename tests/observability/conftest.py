"""What the observability tests share: the committed dashboards and every query in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DASHBOARDS = Path(__file__).resolve().parents[2] / "charts" / "genesys" / "dashboards"


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
