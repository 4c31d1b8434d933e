"""The shared metrics: names and types, one phase casing, promtool's lint, values from a real EvolutionState."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from genesys.api import loads_manifest
from genesys.api.evolution import Evolution, EvolutionSpec
from genesys.evolution import budget_usage, closed_rungs, rung_budgets
from genesys.evolution.state import DesignRecord, EvolutionState, SessionRecord, VerificationRecord
from genesys.observability import EvolutionMetrics
from genesys.observability.catalogue import FINISHED_STATUSES, LABELS, METRICS, PHASE_VALUES
from quick_runs import QUICK
from result_builders import build_result


def quick_spec(device_hours: float | None = 1.0) -> EvolutionSpec:
    """examples/evolution-quick.yaml's spec, with a device-hours limit on cpu-2."""
    data = loads_manifest(QUICK.read_text(), Evolution, str(QUICK)).model_dump(by_alias=True, exclude_none=True)
    data["spec"]["ladder"]["rungs"][1]["deviceHours"] = device_hours
    return Evolution.model_validate(data).spec


def record(design: str, rung: str, phase: str = "succeeded", fitness: float | None = None, repeat: int = 0,
           seconds: float = 0.0) -> VerificationRecord:
    name = f"{design}-{rung}" + (f"-r{repeat}" if repeat else "")
    return VerificationRecord(name, design, rung, phase, fitness=fitness, repeat=repeat,  # type: ignore[arg-type]
                              device_seconds=seconds)


def a_state() -> EvolutionState:
    """Two seeds (gpt2 also repeated once for noise), one made design verified at two rungs, one failing,
    one running at cpu-2; a design session running and one failed."""
    return EvolutionState(
        designs=(DesignRecord("gpt2", "seed", (), 0), DesignRecord("retnet", "seed", (), 1),
                 DesignRecord("design-0001", "mutation", ("gpt2",), 2),
                 DesignRecord("design-0002", "crossover", ("gpt2", "retnet"), 3)),
        sessions=(SessionRecord("design-0001", "mutation", ("gpt2",), "succeeded"),
                  SessionRecord("design-0002", "crossover", ("gpt2", "retnet"), "succeeded"),
                  SessionRecord("design-0003", "scratch", (), "running"),
                  SessionRecord("design-0004", "scratch", (), "failed")),
        verifications=(record("gpt2", "cpu-1", fitness=0.40, seconds=30.0),
                       record("retnet", "cpu-1", fitness=0.35, seconds=40.0),
                       record("gpt2", "cpu-1", fitness=0.90, repeat=1, seconds=30.0),  # noise: never the best
                       record("design-0001", "cpu-1", fitness=0.42, seconds=35.0),
                       record("design-0002", "cpu-1", "failed", seconds=5.0),
                       record("design-0001", "cpu-2", "running")),
    )


def samples(metrics: EvolutionMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of everything the registry exposes."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics.exposition()) for s in family.samples}


def value(metrics: EvolutionMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted({"evolution": "demo", **labels}.items()))))


def busy_metrics() -> EvolutionMetrics:
    """Every metric with samples: a state update and one event of each kind."""
    metrics = EvolutionMetrics()
    metrics.update("demo", quick_spec(), a_state())
    train = build_result("gpt2", "cpu-1").train
    assert train is not None
    metrics.verification_finished("demo", "cpu-1", "succeeded", 95.0, train=train.model_copy(update={"mfu": 0.31}))
    metrics.verification_finished("demo", "cpu-1", "Failed", 4.0)
    metrics.session_finished("demo", "succeeded", 0.5)
    metrics.session_finished("demo", "failed", 0.25)
    metrics.reconcile_error("demo", "api")
    return metrics


def test_catalogue_names_types_and_labels():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for m in METRICS:
        assert m.name.startswith("genesys_") and m.name == m.name.lower(), m.name
        assert not m.name.endswith("_total"), f"{m.name}: the registry adds _total to counters; a gauge never has it"
        assert set(m.labels) <= set(LABELS) and m.labels[0] == "evolution", m.name
    assert "genesys_scalebudget_runs_limit" in names and "genesys_scalebudget_runs_total" not in names


def test_exposition_types_and_one_phase_casing():
    kinds = {m.name: m.kind for m in METRICS}
    phases: set[str] = set()
    for family in text_string_to_metric_families(busy_metrics().exposition()):
        created = family.name.removesuffix("_created")  # prometheus_client's creation time of counters, histograms
        if created != family.name and kinds.get(created) in ("counter", "histogram"):
            continue
        assert kinds.get(family.name) == family.type, f"{family.name} is exported as a {family.type}"
        for sample in family.samples:
            if family.type == "gauge":
                assert not sample.name.endswith("_total"), sample.name
            phases |= {v for k, v in sample.labels.items() if k in ("phase", "status")}
    assert phases == PHASE_VALUES | set(FINISHED_STATUSES)
    assert all(p[0].isupper() and p[1:].islower() for p in phases), phases


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (apt-get install -y prometheus) is absent")
def test_promtool_accepts_the_exposition():
    checked = subprocess.run(["promtool", "check", "metrics"], input=busy_metrics().exposition(), text=True,
                             capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_would_catch_a_gauge_named_like_a_counter():
    if shutil.which("promtool") is None:
        pytest.skip("promtool (apt-get install -y prometheus) is absent")
    text = "# HELP genesys_scalebudget_runs_total x\n# TYPE genesys_scalebudget_runs_total gauge\n" \
           "genesys_scalebudget_runs_total 1\n"
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, capture_output=True, timeout=60)
    assert checked.returncode != 0 and "_total" in checked.stdout + checked.stderr


def test_update_sets_every_state_metric_from_the_core():
    spec, state = quick_spec(), a_state()
    metrics = EvolutionMetrics()
    metrics.update("demo", spec, state)
    assert value(metrics, "genesys_best_fitness", rung="cpu-1") == 0.42  # the repeat's 0.90 is noise, not a design
    assert value(metrics, "genesys_best_fitness", rung="cpu-2") is None  # nothing verified there yet
    budgets = rung_budgets(spec.ladder)
    for usage in budget_usage(state, budgets, closed_rungs(state, spec, budgets)).values():
        assert value(metrics, "genesys_scalebudget_runs_limit", rung=usage.rung) == usage.runs
        assert value(metrics, "genesys_scalebudget_runs_released", rung=usage.rung) == usage.released
        assert value(metrics, "genesys_scalebudget_runs_used", rung=usage.rung) == usage.used
        assert value(metrics, "genesys_scalebudget_runs_running", rung=usage.rung) == usage.running
        assert value(metrics, "genesys_scalebudget_device_seconds_used", rung=usage.rung) == usage.device_seconds
    assert value(metrics, "genesys_scalebudget_runs_used", rung="cpu-1") == 4  # the repeat takes no run
    assert value(metrics, "genesys_scalebudget_runs_running", rung="cpu-2") == 1
    assert value(metrics, "genesys_scalebudget_device_seconds_used", rung="cpu-1") == 140.0  # repeat's time counts
    assert value(metrics, "genesys_scalebudget_device_seconds_limit", rung="cpu-2") == 3600.0
    assert value(metrics, "genesys_scalebudget_device_seconds_limit", rung="cpu-1") is None  # no deviceHours
    designs = {p: value(metrics, "genesys_designs", phase=p) for p in ("Designing", "Implemented", "Verifying",
                                                                       "Verified", "Failed")}
    assert designs == {"Designing": 1, "Implemented": 0, "Verifying": 1, "Verified": 2, "Failed": 2}
    assert [value(metrics, "genesys_verifications", phase=p) for p in ("Running", "Succeeded", "Failed")] == [1, 4, 1]
    assert [value(metrics, "genesys_design_sessions", phase=p) for p in ("Running", "Succeeded", "Failed")] == [1, 2, 1]
    assert value(metrics, "genesys_designs_verified_total") == 1  # design-0001; seeds are not discoveries
    # event series exist at zero from the first update, so their rates are defined
    assert value(metrics, "genesys_verifications_finished_total", rung="cpu-2", status="Failed") == 0
    assert value(metrics, "genesys_llm_spend_usd_total") == 0


def test_an_update_replaces_the_evolution_whole():
    metrics = EvolutionMetrics()
    metrics.update("demo", quick_spec(), a_state())
    metrics.update("demo", quick_spec(), EvolutionState(designs=(DesignRecord("gpt2", "seed"),)))
    assert value(metrics, "genesys_best_fitness", rung="cpu-1") is None
    assert value(metrics, "genesys_designs", phase="Implemented") == 1
    assert value(metrics, "genesys_designs", phase="Verified") == 0


def test_events_count_durations_outcomes_spend_and_throughput():
    metrics = busy_metrics()
    assert value(metrics, "genesys_verification_duration_seconds_count", rung="cpu-1", status="Succeeded") == 1
    assert value(metrics, "genesys_verification_duration_seconds_bucket", rung="cpu-1", status="Succeeded",
                 le="60.0") == 0
    assert value(metrics, "genesys_verification_duration_seconds_bucket", rung="cpu-1", status="Succeeded",
                 le="120.0") == 1
    assert value(metrics, "genesys_verifications_finished_total", rung="cpu-1", status="Failed") == 1
    assert value(metrics, "genesys_verification_tokens_per_second", rung="cpu-1") == 20480 / 10.0
    assert value(metrics, "genesys_verification_mfu_ratio", rung="cpu-1") == 0.31
    assert value(metrics, "genesys_design_sessions_finished_total", status="Succeeded") == 1
    assert value(metrics, "genesys_llm_spend_usd_total") == 0.75
    assert value(metrics, "genesys_reconcile_errors_total", kind="api") == 1


def test_events_refuse_unbounded_or_unfinished_labels():
    metrics = EvolutionMetrics()
    with pytest.raises(ValueError, match="succeeded or failed"):
        metrics.verification_finished("demo", "cpu-1", "interrupted", 3.0)
    with pytest.raises(ValueError, match="succeeded or failed"):
        metrics.session_finished("demo", "running")
    with pytest.raises(ValueError, match="not one of api, store, internal"):
        metrics.reconcile_error("demo", "Conflict: the object has been modified")
    with pytest.raises(ValueError, match="spend.usd"):
        metrics.session_finished("demo", "failed", -1.0)


def test_forget_drops_every_series_of_an_evolution():
    metrics = busy_metrics()
    metrics.update("other", quick_spec(), a_state())
    metrics.forget("demo")
    assert {dict(labels)["evolution"] for _, labels in samples(metrics)} == {"other"}


def test_served_on_loopback_until_closed():
    metrics = busy_metrics()
    port = metrics.serve(0)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        with pytest.raises(RuntimeError, match="already served"):
            metrics.serve(0)
    finally:
        metrics.close()
    assert 'genesys_designs{evolution="demo",phase="Verified"} 2.0' in body
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_the_metrics_pull_in_neither_kubernetes_nor_torch_nor_grafana():
    code = ("import sys, genesys.observability, genesys.local.metrics\n"
            "bad = {'torch', 'kubernetes', 'kopf', 'grafana_foundation_sdk'} & set(sys.modules)\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_first_update_creates_every_reconcile_error_kind_at_zero():
    """So the dashboards' error rate reads 0, not 'no data', for a run that never failed."""
    metrics = EvolutionMetrics()
    metrics.update("demo", quick_spec(), a_state())
    for kind in ("api", "store", "internal"):
        assert value(metrics, "genesys_reconcile_errors_total", kind=kind) == 0
