"""Prometheus metrics of a local run, served on 127.0.0.1 while `genesys run` works.

    metrics = RunMetrics(run); port = metrics.serve(0); metrics.update()   # after every turn

The local side of genesys.observability: the same names and labels the operator exports
(one set of Grafana dashboards reads both), fed the same way, from the core's `EvolutionState`.
Children that finished are found by comparing the store with what was already reported;
verifications are read back from the artifact store for their wall time and throughput, and a
session's LLM spend is in its record. A run that is continued reports its earlier children at
once, so its counters count the whole run.
"""

from __future__ import annotations

import time

from genesys.api.results import VerificationResult
from genesys.local.run_dir import OpenRun
from genesys.observability import EvolutionMetrics


class RunMetrics:
    def __init__(self, run: OpenRun, metrics: EvolutionMetrics | None = None):
        self.run = run
        self.metrics = metrics if metrics is not None else EvolutionMetrics()
        self.reported: set[tuple[str, str]] = set()  # ("verification" | "session", name) already counted
        self.update()  # before serving: the first scrape already sees the run so far

    def serve(self, port: int) -> int:
        """Serve on 127.0.0.1:port (0: any free port); return the port."""
        return self.metrics.serve(port)

    def update(self) -> None:
        """The run's state as it is in the store now, and the children that finished since the last update."""
        store, name = self.run.store, self.run.evolution.name
        started = float(store.get_meta("started_at") or time.time())
        self.metrics.update(name, self.run.evolution.spec, store.state((time.time() - started) / 3600))
        self._report_verifications()
        self._report_sessions()

    def _report_verifications(self) -> None:
        name = self.run.evolution.name
        finished = [v for v in self.run.store.verifications()
                    if v.phase != "running" and ("verification", v.name) not in self.reported]
        for row in sorted(finished, key=lambda v: v.finished_at or 0.0):
            result = self.run.artifacts.read_verification(row.name)
            result = result if isinstance(result, VerificationResult) else None  # lost or malformed: no result
            wall = result.wall_seconds if result is not None and result.wall_seconds > 0 else \
                (row.finished_at or row.started_at) - row.started_at
            self.metrics.verification_finished(name, row.rung, row.phase, wall,
                                               train=result.train if result is not None else None)
            self.reported.add(("verification", row.name))

    def _report_sessions(self) -> None:
        name = self.run.evolution.name
        finished = [s for s in self.run.store.sessions()
                    if s.phase != "running" and ("session", s.name) not in self.reported]
        for row in sorted(finished, key=lambda s: s.finished_at or 0.0):
            # its LLM dollars as the runner recorded them from its outcome (also when its design was refused)
            self.metrics.session_finished(name, row.phase, row.usd)
            self.reported.add(("session", row.name))
