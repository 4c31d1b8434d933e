"""A real Prometheus scrapes the metrics of a real local run, and every dashboard query returns data."""

from __future__ import annotations

import math
from dataclasses import replace

from genesys.api.evolution import Evolution
from genesys.local.metrics import RunMetrics
from genesys.local.run_dir import open_run
from prometheus_server import PrometheusServer
from quick_runs import records
from result_builders import build_result

WINDOW = "1m"  # the dashboards' $window: the whole test fits in it


def with_device_hours(evolution: Evolution) -> Evolution:
    """The run's Evolution with a device-hours limit on its top rung, so the limit's panel has a series."""
    data = evolution.model_dump(by_alias=True, exclude_none=True)
    data["spec"]["ladder"]["rungs"][-1]["deviceHours"] = 2.0
    return Evolution.model_validate(data)


def finish_children(metrics: RunMetrics) -> None:
    """Children finishing between two scrapes (what a runtime reports as they end), so every rate and
    quantile has a change to measure."""
    shared, name = metrics.metrics, metrics.run.evolution.name
    train = build_result("design-0009", "cpu-1").train
    for rung, seconds in (("cpu-1", 40.0), ("cpu-2", 80.0)):
        shared.verification_finished(name, rung, "succeeded", seconds, train=train)
    shared.verification_finished(name, "cpu-1", "failed", 5.0)
    shared.session_finished(name, "succeeded", 0.5)
    shared.session_finished(name, "failed", 0.25)
    shared.reconcile_error(name, "api")
    metrics.update()


def number(prometheus: PrometheusServer, expr: str) -> float:
    series = prometheus.query(expr)
    assert len(series) == 1, f"{expr}: {series}"
    return float(series[0]["value"][1])


def test_every_dashboard_query_returns_data_from_a_scraped_run(quick_run, dashboard_queries):
    run = open_run(quick_run)
    run = replace(run, evolution=with_device_hours(run.evolution))
    metrics = RunMetrics(run)  # the finished quick run: its state, and its children replayed
    name = run.evolution.name
    try:
        with PrometheusServer([f"127.0.0.1:{metrics.serve(0)}"], interval="1s") as prometheus:
            prometheus.wait_for_scrapes(1)
            finish_children(metrics)
            prometheus.wait_for_scrapes(2)
            empty = []
            for file, title, expr in dashboard_queries:
                concrete = expr.replace("$evolution", name).replace("$window", WINDOW)
                values = [float(s["value"][1]) for s in prometheus.query(concrete)]
                if not any(math.isfinite(v) for v in values):
                    empty.append(f"{file} / {title}: {concrete} -> {values}")
            assert not empty, "queries without data:\n" + "\n".join(empty)
            # the dashboards' evolution variable lists the run
            assert prometheus.api("label/evolution/values", **{"match[]": "genesys_designs"}) == [name]
            # what Prometheus holds is the run's own record
            counts = records(quick_run)
            selector = f'{{evolution="{name}"}}'
            assert number(prometheus, f"sum(genesys_designs{selector})") == counts["designs"]
            assert number(prometheus, f"sum(genesys_scalebudget_runs_used{selector})") == sum(counts["used"].values())
            finished = sum(n for _, phase, n in counts["verifications"] if phase != "running")
            assert number(prometheus, f"sum(genesys_verifications_finished_total{selector})") == finished + 3
    finally:
        metrics.metrics.close()
        run.store.close()
