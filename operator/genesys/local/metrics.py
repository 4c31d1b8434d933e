"""Prometheus metrics of a local run, served on 127.0.0.1 while `genesys run` works.

Names and labels match what the operator exports for the same Evolution, so one set
of Grafana dashboards reads both (`evolution` and `rung` labels throughout).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from genesys.api.vocabulary import RECORD_PHASES
from genesys.local.snapshot import RunSnapshot

# The phases a local run's designs reach (no Proposed/Designing: a session's design appears when it ends).
DESIGN_PHASES = ("Implemented", "Verifying", "Verified", "Failed")


class RunMetrics:
    def __init__(self, evolution: str, registry: CollectorRegistry | None = None):
        self.evolution = evolution
        self.registry = registry or CollectorRegistry()
        gauge = lambda name, doc, labels: Gauge(name, doc, ["evolution", *labels], registry=self.registry)  # noqa: E731
        self.best_fitness = gauge("genesys_best_fitness", "Fitness of the best design verified at the rung", ["rung"])
        self.budget_total = gauge("genesys_scalebudget_runs_total", "Verifications the rung's budget allows", ["rung"])
        self.budget_released = gauge("genesys_scalebudget_runs_released", "Runs released so far (gradual release)",
                                     ["rung"])
        self.budget_used = gauge("genesys_scalebudget_runs_used", "Finished verifications charged to the rung",
                                 ["rung"])
        self.budget_running = gauge("genesys_scalebudget_runs_running", "Verifications running at the rung", ["rung"])
        self.designs = gauge("genesys_designs", "Designs by phase", ["phase"])
        self.verifications = gauge("genesys_verifications", "Verifications by phase", ["phase"])
        self.sessions = gauge("genesys_design_sessions", "Design sessions by phase", ["phase"])
        self.device_seconds = gauge("genesys_device_seconds", "Device-seconds spent by finished verifications", [])

    def serve(self, port: int) -> int:
        """Serve on 127.0.0.1:port (0: any free port); return the port."""
        server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        return server.server_port

    def update(self, snapshot: RunSnapshot) -> None:
        evo = self.evolution
        for rung in snapshot.rungs:
            scores = [r.fitness for d in snapshot.designs for r in d.rungs if r.rung == rung]
            if scores:
                self.best_fitness.labels(evo, rung).set(max(scores))
        for b in snapshot.budgets:
            self.budget_total.labels(evo, b.rung).set(b.total)
            self.budget_released.labels(evo, b.rung).set(b.released)
            self.budget_used.labels(evo, b.rung).set(b.used)
            self.budget_running.labels(evo, b.rung).set(b.running)
        for phase in DESIGN_PHASES:
            self.designs.labels(evo, phase).set(sum(d.phase == phase for d in snapshot.designs))
        for phase in RECORD_PHASES:
            self.verifications.labels(evo, phase).set(snapshot.verifications.get(phase, 0))
            self.sessions.labels(evo, phase).set(snapshot.sessions.get(phase, 0))
        self.device_seconds.labels(evo).set(sum(b.device_seconds for b in snapshot.budgets))
