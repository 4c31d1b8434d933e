"""Every metric genesys exports, defined once: name, type, labels, help, and the label values.

    for metric in METRICS: metric.name, metric.kind, metric.labels, metric.series()

Both runtimes export these names (genesys.observability.metrics), the dashboards query only
these (a test parses their PromQL), and `promtool check metrics` passes on them.

Label values of `phase` and `status` are Kubernetes-style PascalCase (`Running`, `Succeeded`,
`Failed`, `Verified`, ...), the words `kubectl get` shows for Designs and VerificationJobs
(kube-state-metrics labels pod phases the same way). The core's lowercase record phases are
mapped by `genesys.api.vocabulary.record_to_verification_phase`, for sessions too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genesys.api.vocabulary import RECORD_PHASES, DesignPhase, record_to_verification_phase

MetricKind = Literal["gauge", "counter", "histogram"]
# What the labels range over, so a series count is bounded by the Evolutions and their ladders.
LABELS = {
    "evolution": "the Evolution's name",
    "rung": "a rung of its ladder",
    "phase": "a resource phase (PHASE_VALUES)",
    "status": "how a child finished: Succeeded or Failed",
    "kind": "a reconcile error's kind (RECONCILE_ERROR_KINDS)",
}

# A design whose session has not ended is Designing: the core's state does not tell Proposed from it.
DESIGN_PHASES: tuple[DesignPhase, ...] = ("Designing", "Implemented", "Verifying", "Verified", "Failed")
# Design sessions and verifications, as counted from the core's records: Running, Succeeded, Failed.
RECORD_PHASE_VALUES: tuple[str, ...] = tuple(record_to_verification_phase(p) for p in RECORD_PHASES)
FINISHED_STATUSES = ("Succeeded", "Failed")
# Why a reconcile pass failed: the API server refused or was unreachable, the artifact store could not
# be read or written, or anything else (a bug: its message goes to the log, never into a label).
RECONCILE_ERROR_KINDS = ("api", "store", "internal")
PHASE_VALUES = frozenset(DESIGN_PHASES) | frozenset(RECORD_PHASE_VALUES)

# Wall time of one verification: seconds on a CPU test rung, up to days at the paper's top rung.
DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
                    86400.0, 172800.0)


@dataclass(frozen=True)
class Metric:
    name: str  # as registered: a counter's samples add `_total`, a histogram's `_bucket`, `_sum`, `_count`
    kind: MetricKind
    labels: tuple[str, ...]
    help: str
    from_state: bool  # set by `update` from an EvolutionState; otherwise by an event method

    def series(self) -> tuple[str, ...]:
        """The names PromQL sees for this metric."""
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return tuple(f"{self.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        return (self.name,)


def _gauge(name: str, labels: tuple[str, ...], help: str) -> Metric:
    return Metric(name, "gauge", ("evolution", *labels), help, from_state=True)


METRICS: tuple[Metric, ...] = (
    _gauge("genesys_best_fitness", ("rung",),
           "Best fitness of a design verified at the rung (calibration repeats excluded); fitness compares only "
           "within a rung"),
    _gauge("genesys_scalebudget_runs_limit", ("rung",), "Verifications the rung's scale budget allows in all"),
    _gauge("genesys_scalebudget_runs_released", ("rung",), "Runs of the rung's budget opened so far (gradual "
                                                          "release)"),
    _gauge("genesys_scalebudget_runs_used", ("rung",), "Finished verifications charged to the rung's budget"),
    _gauge("genesys_scalebudget_runs_running", ("rung",), "Verifications running at the rung (reserved runs)"),
    _gauge("genesys_scalebudget_device_seconds_used", ("rung",),
           "Device-seconds spent by the rung's finished verifications, calibration repeats included"),
    _gauge("genesys_scalebudget_device_seconds_limit", ("rung",),
           "Device-seconds the rung's budget allows (only rungs with deviceHours)"),
    _gauge("genesys_designs", ("phase",), "Designs by phase (a failed design session counts as a Failed design)"),
    _gauge("genesys_verifications", ("phase",), "Verifications by phase, calibration repeats included"),
    _gauge("genesys_design_sessions", ("phase",), "Design sessions by phase"),
    Metric("genesys_designs_verified", "counter", ("evolution",),
           "Designs made by the evolution (not seeds) that succeeded a verification; its rate is the discovery "
           "rate", from_state=True),
    Metric("genesys_verification_duration_seconds", "histogram", ("evolution", "rung", "status"),
           "Wall time of finished verifications: check, train and evaluate", from_state=False),
    Metric("genesys_verifications_finished", "counter", ("evolution", "rung", "status"),
           "Verifications that finished, by status", from_state=False),
    Metric("genesys_verification_tokens_per_second", "gauge", ("evolution", "rung"),
           "Training throughput of the rung's latest finished verification (tokens over training wall time)",
           from_state=False),
    Metric("genesys_verification_mfu_ratio", "gauge", ("evolution", "rung"),
           "Model FLOPs utilisation of the rung's latest finished verification, as its trainer measured it",
           from_state=False),
    Metric("genesys_design_sessions_finished", "counter", ("evolution", "status"),
           "Design sessions that finished, by status", from_state=False),
    Metric("genesys_llm_spend_usd", "counter", ("evolution",), "LLM spend of finished design sessions in US dollars",
           from_state=False),
    Metric("genesys_reconcile_errors", "counter", ("evolution", "kind"),
           "Errors of the runtime's reconcile loop, by kind", from_state=False),
)
BY_NAME = {m.name: m for m in METRICS}


def series_names() -> frozenset[str]:
    """Every series name the metrics expose (what dashboards may query)."""
    return frozenset(s for m in METRICS for s in m.series())


def finished_status(status: str) -> str:
    """`Succeeded` or `Failed` from either vocabulary (result.json and outcome.json say `succeeded`)."""
    label = status[:1].upper() + status[1:]
    if label not in FINISHED_STATUSES:
        raise ValueError(f"status {status!r} is not a finished child's: pass succeeded or failed (a verification "
                         "that was interrupted is retried, not finished)")
    return label
