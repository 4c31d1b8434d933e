"""`EvolutionMetrics`: one Prometheus registry holding every Evolution a runtime runs.

    metrics = EvolutionMetrics()
    metrics.serve(9090, addr="0.0.0.0")                     # or port 0: any free port; returns it
    metrics.update("demo", spec, state)                     # after every reconcile / turn
    metrics.verification_finished("demo", "cpu-1", "succeeded", 95.0, train=result.train)
    metrics.session_finished("demo", "failed", spend_usd=0.12)
    metrics.reconcile_error("demo", "api")
    metrics.forget("demo")                                  # the Evolution is gone

`update` sets the state-derived metrics from the core's `EvolutionState` (the same one both
runtimes build); the event methods are called once per child that finishes, as the runtime
records it. Names, labels and label values: genesys.observability.catalogue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from genesys.api.evolution import EvolutionSpec
from genesys.api.results import TrainingSummary
from genesys.evolution.state import EvolutionState
from genesys.observability.catalogue import (
    DURATION_BUCKETS,
    FINISHED_STATUSES,
    METRICS,
    RECONCILE_ERROR_KINDS,
    finished_status,
)
from genesys.observability.gauges import Sample, state_samples


class _StateCollector(Collector):
    """Exposes the latest `state_samples` of every Evolution; a scrape sees each update whole."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[str, list[Sample]]] = {}  # evolution -> metric -> samples
        self.lock = threading.Lock()

    def _families(self) -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for m in METRICS:
            if m.from_state:
                family = GaugeMetricFamily if m.kind == "gauge" else CounterMetricFamily
                families[m.name] = family(m.name, m.help, labels=m.labels)
        return families

    def describe(self) -> Iterator[Metric]:
        return iter(self._families().values())

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            current = dict(self.samples)
        families = self._families()
        for evolution in sorted(current):
            for name, samples in current[evolution].items():
                for labels, value in samples:
                    families[name].add_metric([evolution, *labels], value)
        return iter(families.values())


class EvolutionMetrics:
    """The metrics of any number of Evolutions, in `registry` (a new one by default).

    Thread-safe: kopf handlers and the HTTP server's thread may call it concurrently.
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self._state = _StateCollector()
        self.registry.register(self._state)
        event = {m.name: m for m in METRICS if not m.from_state}

        def labelled(cls: Any, name: str, **extra: Any) -> Any:
            return cls(name, event[name].help, list(event[name].labels), registry=self.registry, **extra)

        self.duration = labelled(Histogram, "genesys_verification_duration_seconds", buckets=DURATION_BUCKETS)
        self.verifications_finished = labelled(Counter, "genesys_verifications_finished")
        self.tokens_per_second = labelled(Gauge, "genesys_verification_tokens_per_second")
        self.mfu = labelled(Gauge, "genesys_verification_mfu_ratio")
        self.sessions_finished = labelled(Counter, "genesys_design_sessions_finished")
        self.llm_spend = labelled(Counter, "genesys_llm_spend_usd")
        self.reconcile_errors = labelled(Counter, "genesys_reconcile_errors")
        self._children: dict[str, set[tuple[Any, tuple[str, ...]]]] = {}  # evolution -> (metric, labels) made
        self._lock = threading.Lock()
        self._server: Any = None

    def _child(self, metric: Any, *labels: str) -> Any:
        with self._lock:
            self._children.setdefault(labels[0], set()).add((metric, labels))
        return metric.labels(*labels)

    def update(self, evolution: str, spec: EvolutionSpec, state: EvolutionState) -> None:
        """Set every state-derived metric of `evolution` from the core's view of it.

        The first update of an Evolution also creates its event series at zero (per rung and
        status), so their rates are defined before the first child finishes.
        """
        samples = state_samples(spec, state)
        with self._state.lock:
            first = evolution not in self._state.samples
            self._state.samples[evolution] = samples
        if first:
            for status in FINISHED_STATUSES:
                for (rung,), _ in samples["genesys_scalebudget_runs_limit"]:
                    self._child(self.duration, evolution, rung, status)
                    self._child(self.verifications_finished, evolution, rung, status)
                self._child(self.sessions_finished, evolution, status)
            self._child(self.llm_spend, evolution)
            for kind in RECONCILE_ERROR_KINDS:
                self._child(self.reconcile_errors, evolution, kind)

    def verification_finished(self, evolution: str, rung: str, status: str, wall_seconds: float,
                              train: TrainingSummary | None = None) -> None:
        """One verification finished (`succeeded` or `failed`, either casing) after `wall_seconds`
        (the result's wall_seconds: check, train, evaluate). `train`, the result's training summary
        when there is one, sets the rung's throughput (tokens/s) and MFU."""
        label = finished_status(status)
        self._child(self.duration, evolution, rung, label).observe(max(0.0, wall_seconds))
        self._child(self.verifications_finished, evolution, rung, label).inc()
        if train is not None and train.wall_seconds > 0:
            self._child(self.tokens_per_second, evolution, rung).set(train.tokens / train.wall_seconds)
        if train is not None and train.mfu is not None:
            self._child(self.mfu, evolution, rung).set(train.mfu)

    def session_finished(self, evolution: str, status: str, spend_usd: float = 0.0) -> None:
        """One design session finished (`succeeded` or `failed`); `spend_usd` is its outcome's spend.usd."""
        if spend_usd < 0:
            raise ValueError(f"spend_usd is {spend_usd}: pass the session outcome's spend.usd (>= 0)")
        self._child(self.sessions_finished, evolution, finished_status(status)).inc()
        self._child(self.llm_spend, evolution).inc(spend_usd)

    def reconcile_error(self, evolution: str, kind: str) -> None:
        """The runtime's reconcile of `evolution` failed; `kind` is one of RECONCILE_ERROR_KINDS (api, store,
        internal), never an error message."""
        if kind not in RECONCILE_ERROR_KINDS:
            raise ValueError(f"reconcile error kind {kind!r} is not one of {', '.join(RECONCILE_ERROR_KINDS)}: "
                             "pass the kind and log the message instead")
        self._child(self.reconcile_errors, evolution, kind).inc()

    def forget(self, evolution: str) -> None:
        """Drop every series of `evolution` (it was deleted): nothing of it is exported any more."""
        with self._state.lock:
            self._state.samples.pop(evolution, None)
        with self._lock:
            made = self._children.pop(evolution, set())
        for metric, labels in made:
            metric.remove(*labels)

    def exposition(self) -> str:
        """The registry in Prometheus' text format, as a scrape gets it."""
        return generate_latest(self.registry).decode()

    def serve(self, port: int = 0, addr: str = "127.0.0.1") -> int:
        """Serve /metrics on addr:port in a daemon thread (port 0: any free port); return the port.

        Loopback by default; an operator pod passes addr="0.0.0.0" for its ServiceMonitor."""
        if self._server is not None:
            raise RuntimeError("these metrics are already served: call serve() once, or close() first")
        self._server, _ = start_http_server(port, addr=addr, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving (a no-op when not serving)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

