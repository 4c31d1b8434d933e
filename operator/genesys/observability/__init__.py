"""genesys.observability: the metrics both runtimes export and the Grafana dashboards that read them.

    from genesys.observability import EvolutionMetrics
    metrics = EvolutionMetrics(); port = metrics.serve(0)
    metrics.update(evolution.name, evolution.spec, state)     # state: genesys.evolution.EvolutionState
    metrics.verification_finished(name, rung, "succeeded", result.wall_seconds, train=result.train)
    metrics.session_finished(name, outcome.status, outcome.spend.usd); metrics.reconcile_error(name, "api")

The local runtime builds `state` with `RunStore.state()` (genesys.local.metrics adapts it),
the operator with `genesys.operator.state.evolution_state(...)`. Only prometheus_client and
genesys.api / genesys.evolution are imported here: no Kubernetes, no torch. The dashboards are
generated: `python -m genesys.observability.dashboards --out charts/genesys/dashboards`.
"""

from genesys.observability.catalogue import METRICS, PHASE_VALUES, Metric, series_names
from genesys.observability.metrics import EvolutionMetrics

__all__ = ["METRICS", "PHASE_VALUES", "EvolutionMetrics", "Metric", "series_names"]
