"""The committed dashboards are what the generator writes, and query only metrics genesys exports."""

from __future__ import annotations

import re

import pytest

from genesys.observability import dashboards as generator
from genesys.observability.catalogue import FINISHED_STATUSES, LABELS, METRICS, PHASE_VALUES, series_names

STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
RANGE = re.compile(r"\[[^\]]*\]")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# what PromQL words the dashboards use besides metric and label names; a new one is added here on purpose
PROMQL = {"sum", "max", "by", "rate", "increase", "histogram_quantile"}
LABEL_NAMES = set(LABELS) | {"le"}  # le: the bucket bound of a histogram


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads; fails on any word that is neither PromQL nor a known label."""
    words = set(IDENTIFIER.findall(RANGE.sub(" ", STRING.sub(" ", expr))))
    unknown = words - PROMQL - LABEL_NAMES - series_names()
    assert not unknown, f"{expr}: {sorted(unknown)} are not metrics of genesys.observability.catalogue, labels " \
                        "or known PromQL words"
    return words & series_names()


def test_the_committed_dashboards_are_what_the_generator_writes(dashboards_dir):
    expected = {f"{board.uid}.json": generator.render(board) for board in generator.BOARDS}
    committed = {p.name: p.read_text(encoding="utf-8") for p in dashboards_dir.glob("*.json")}
    stale = sorted(n for n in expected.keys() | committed.keys() if expected.get(n) != committed.get(n))
    assert not stale, f"{stale} differ from the generator: run python -m genesys.observability.dashboards " \
                      "--out charts/genesys/dashboards (and delete the files it no longer writes)"


def test_every_query_reads_only_exported_metrics_with_known_labels(dashboard_queries, dashboards):
    used: set[str] = set()
    for name, title, expr in dashboard_queries:
        found = metric_names(expr)
        assert found, f"{name} / {title}: {expr} reads no genesys metric"
        used |= found
        for label, _, value in MATCHER.findall(expr):
            assert label in LABEL_NAMES, f"{name} / {title}: unknown label {label}"
            if label in ("phase", "status"):  # one casing: the values the exporter writes
                assert set(value.split("|")) <= PHASE_VALUES | set(FINISHED_STATUSES), f"{name} / {title}: {value}"
    for model in dashboards.values():
        for variable in model["templating"]["list"]:
            if variable["type"] == "query":
                used |= metric_names(variable["query"].replace("label_values", "sum"))
    unshown = {m.name for m in METRICS if not set(m.series()) & used}
    assert not unshown, f"metrics no dashboard shows: {sorted(unshown)}"


def test_a_query_with_an_unknown_metric_is_caught():
    with pytest.raises(AssertionError, match="genesys_scalebudget_runs_total"):
        metric_names('sum(genesys_scalebudget_runs_total{evolution=~"$evolution"})')
    with pytest.raises(AssertionError, match="absent"):
        metric_names('absent(genesys_designs{evolution=~"$evolution"})')


def test_the_four_dashboards_have_their_panels(dashboards):
    titles = {name: {p["title"] for p in model["panels"]} for name, model in dashboards.items()}
    assert {"Best fitness per rung", "Designs by phase", "Discovery rate"} <= titles["genesys-evolution.json"]
    assert {"Runs used and running", "Runs released and limit",
            "Device-hours per rung"} <= titles["genesys-ladder.json"]
    assert {"Verification wall time", "Verification failure ratio", "Training throughput",
            "Model FLOPs utilisation"} <= titles["genesys-training.json"]
    assert {"Finished sessions by outcome", "Validity", "LLM spend"} <= titles["genesys-agents.json"]
    for model in dashboards.values():
        assert [v["name"] for v in model["templating"]["list"]] == ["datasource", "evolution", "window"]
        assert all(p["datasource"]["uid"] == "${datasource}" for p in model["panels"])
