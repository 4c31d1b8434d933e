"""A read-only picture of one run, for the inspection commands and the HTML report.

`RunStore.snapshot()` builds it from SQLite and the artifact store; the renderers
(`genesys.local.tree`, `genesys.local.report`) and `genesys designs --json` read only this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from genesys.api.vocabulary import DesignFailure, DesignPhase, EvolutionPhase


@dataclass(frozen=True)
class RungScores:
    """One succeeded verification of a design at a rung."""

    rung: str
    fitness: float
    fitness_stderr: float | None
    scores: dict[str, float]  # task -> normalised score
    baselines: dict[str, float]  # task -> the random-logits baseline's score
    params: int | None  # non-embedding parameters of the trained model
    device_seconds: float
    heldout_loss: float | None
    # fitness_stderr combined with the rung's training noise (genesys.evolution.training_spread)
    stderr: float | None = None
    wall_seconds: float | None = None  # the verification end to end (check, train, evaluate)
    threads: tuple[int, ...] = ()  # its training threads over time, e.g. (1, 2) after a neighbour ended

    def resources_text(self) -> str:
        """`wall 95 s on 1→2 threads`."""
        threads = "\u2192".join(str(t) for t in self.threads if t is not None)
        wall = f"wall {self.wall_seconds:.0f} s" if self.wall_seconds is not None else ""
        return " on ".join(p for p in (wall, f"{threads} threads" if threads else "") if p)


@dataclass(frozen=True)
class DesignView:
    name: str
    phase: DesignPhase
    operation: str  # seed | mutation | crossover | scratch
    parents: tuple[str, ...]
    order: int  # creation order; seeds first
    title: str  # the proposal's title
    rating: float | None  # the evolution core's rank rating (Massey); None while unrated
    rank: int | None  # 1 = best
    quadrant: str | None  # e.g. good-confident
    rungs: tuple[RungScores, ...] = ()  # lowest rung first
    failed_rungs: dict[str, str] = field(default_factory=dict)  # rung -> reason of a failed verification
    created_at: float = 0.0  # unix time
    # at the best rung: (fitness - the best other seed's) in combined stderrs, and that seed
    lead_z: float | None = None
    versus: str | None = None
    failure: DesignFailure | None = None  # why a Failed design failed: its session, or its verification
    session_usd: float = 0.0  # what its design session spent on LLM calls (0: a seed, or the GP designer)

    @property
    def best(self) -> RungScores | None:
        """The verification at the highest rung reached."""
        return self.rungs[-1] if self.rungs else None

    def fitness_text(self, digits: int = 3) -> str:
        """`0.512 ±0.014` at the best rung (the combined stderr), `0.512` without one, `-` unverified."""
        if self.best is None:
            return "-"
        err = f" \u00b1{self.best.stderr:.{digits}f}" if self.best.stderr is not None else ""
        return f"{self.best.fitness:.{digits}f}{err}"

    def rungs_text(self) -> str:
        """`cpu-1 0.507 ±0.014, cpu-2 0.433`: fitness per rung, each comparable only within its rung."""
        return ", ".join(
            f"{r.rung} {r.fitness:.3f}" + (f" \u00b1{r.stderr:.3f}" if r.stderr is not None else "") for r in self.rungs
        )

    def standing_text(self) -> str:
        """`#1 design-0003 (cpu-1 0.507 ±0.014, cpu-2 0.433)`: the rank, never one raw number from
        the top rung reached (a larger model on another rung is not on the same scale)."""
        rank = f"#{self.rank} " if self.rank is not None else ""
        return f"{rank}{self.name} ({self.rungs_text() or 'unverified'})"

    def lead_text(self) -> str:
        """`+2.3σ vs mamba2`: the lead over the best other seed at the best rung, or `` without one."""
        return f"{self.lead_z:+.1f}\u03c3 vs {self.versus}" if self.lead_z is not None and self.versus else ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["parents"] = list(self.parents)
        data["fitness"] = {r.rung: r.fitness for r in self.rungs}
        data["best_rung"] = self.best.rung if self.best else None
        data["stderr"] = self.best.stderr if self.best else None
        return data


@dataclass(frozen=True)
class BudgetView:
    rung: str
    total: int  # runs in the rung's budget
    released: int
    used: int
    running: int
    device_seconds: float


@dataclass(frozen=True)
class RunSnapshot:
    evolution: str
    run_dir: str
    phase: EvolutionPhase
    started_at: float  # unix time of the first start
    updated_at: float
    rungs: tuple[str, ...]  # the ladder, lowest first
    designs: tuple[DesignView, ...]  # creation order
    budgets: tuple[BudgetView, ...]
    sessions: dict[str, int]  # running / succeeded / failed design sessions
    verifications: dict[str, int]  # running / succeeded / failed verifications
    # (unix time, design, rung, fitness) for every succeeded verification, in finishing order
    history: tuple[tuple[float, str, str, float], ...] = ()
    completed_reason: str | None = None
    finished_at: float | None = None  # unix time the run completed; None while it has not
    # what is in progress, from the store: design sessions (by design name) and verifications (design, rung)
    running_sessions: tuple[str, ...] = ()
    running_verifications: tuple[tuple[str, str, int], ...] = ()  # (design, rung, repeat)
    # succeeded noise repeats: (design, rung, repeat, fitness)
    repeats_done: tuple[tuple[str, str, int, float], ...] = ()
    llm_usd: float = 0.0  # what the run's finished design sessions spent on LLM calls

    @property
    def elapsed(self) -> float:
        """Seconds since the first start; the clock stops when the run completes."""
        return (self.finished_at or self.updated_at) - self.started_at

    def design(self, name: str) -> DesignView:
        for d in self.designs:
            if d.name == name:
                return d
        raise KeyError(name)

    def leaderboard(self) -> list[DesignView]:
        """Rated designs, best first."""
        return sorted((d for d in self.designs if d.rank is not None), key=lambda d: d.rank or 0)
