"""A run directory: where one Evolution's local run keeps its state, artifacts and logs.

    <run dir>/evolution.yaml   the manifest the run was started from
    <run dir>/state.db         SQLite state (genesys.local.store)
    <run dir>/artifacts/       the artifact store, unless `--store` or the Evolution names another
    <run dir>/work/            children's scratch (checkpoints) when the store is remote
    <run dir>/logs/            one log per child process

`open_run` is for the inspection commands (`genesys status`, `designs`, ...);
`build_snapshot` turns the state into the read-only `RunSnapshot` they render.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from genesys.api import ManifestError, loads_manifest, storage
from genesys.api.artifact_store import ArtifactStore
from genesys.api.evolution import Evolution
from genesys.api.vocabulary import RECORD_PHASES, EvolutionPhase
from genesys.evolution import (
    budget_usage,
    closed_rungs,
    combined_stderr,
    leaderboard,
    llm_spend,
    rung_budgets,
    training_spread,
)
from genesys.evolution.outcomes import design_failure, design_phase
from genesys.local.snapshot import BudgetView, DesignView, RungScores, RunSnapshot
from genesys.local.store import RunDirError, RunStore

STATE_FILE = "state.db"
MANIFEST_FILE = "evolution.yaml"
STORE_META = "store"  # the store a run started with (`--store` is not part of the manifest)


def runs_under(root: Path) -> list[Path]:
    """The run dirs directly under `root`, most recently written first (state.db or its WAL)."""

    def written(run_dir: Path) -> float:
        files = (run_dir / STATE_FILE, run_dir / f"{STATE_FILE}-wal")
        return max(f.stat().st_mtime for f in files if f.exists())

    return sorted((p.parent for p in root.glob(f"*/{STATE_FILE}")), key=lambda d: (written(d), d.name), reverse=True)


def default_run_dir(evolution: Evolution) -> Path:
    return Path.cwd() / "runs" / evolution.name


def store_root(evolution: Evolution, run_dir: Path, store: str | None = None) -> str:
    """The artifact store's root: `store` (`genesys run --store`), else spec.artifacts.url, else
    <run dir>/artifacts. A path or file:// URL becomes an absolute path; any other URL (s3://, gs://)
    is used as given once its fsspec driver is found."""
    url = store or evolution.spec.artifacts.url
    if url is None:
        return str(run_dir / "artifacts")
    if storage.is_local(url):
        return str(storage.local_path(url).expanduser().resolve())
    try:
        storage.check(url)
    except storage.StoreError as err:
        where = "--store" if store else "spec.artifacts.url"
        raise RunDirError(f"{where}: {err}") from None
    return url.rstrip("/")


@dataclass
class OpenRun:
    run_dir: Path
    evolution: Evolution
    store: RunStore
    artifacts: ArtifactStore


def open_run(run_dir: Path) -> OpenRun:
    """An existing run, for reading; a clear error when `run_dir` holds none."""
    state = run_dir / STATE_FILE
    if not state.exists():
        raise RunDirError(f"{run_dir} holds no genesys run (no {STATE_FILE}): pass the --run-dir that "
                          "`genesys run` printed, or start one with `genesys run EVOLUTION.yaml`")
    try:
        evolution = loads_manifest((run_dir / MANIFEST_FILE).read_text(encoding="utf-8"), Evolution,
                                   str(run_dir / MANIFEST_FILE))
    except (OSError, ManifestError) as err:
        raise RunDirError(f"{run_dir}: cannot read the run's {MANIFEST_FILE}: {err}") from None
    store = RunStore.open(state)
    root = store.get_meta(STORE_META) or store_root(evolution, run_dir)  # runs from before that meta key
    if not storage.is_local(root):
        try:
            storage.check(root)
        except storage.StoreError as err:
            store.close()
            raise RunDirError(f"{run_dir}: the run's artifacts are in {root}, which cannot be read here: "
                              f"{err}") from None
    return OpenRun(run_dir, evolution, store, ArtifactStore(root, evolution.name))


def build_snapshot(run: OpenRun, elapsed_hours: float = 0.0) -> RunSnapshot:
    spec = run.evolution.spec
    store = run.store
    state = store.state(elapsed_hours)
    board = {s.design: s for s in leaderboard(state, spec)}
    rows = store.verifications()
    by_design: dict[str, list] = {}
    for v in rows:
        if v.repeat == 0:  # calibration repeats measure noise; a design's views show its own verifications
            by_design.setdefault(v.design, []).append(v)
    rungs = spec.ladder.rung_names()
    spread = training_spread(state.verifications, rungs)
    records = {r.name: r for r in state.verifications}
    spent = {s.name: s.usd for s in state.sessions}
    designs: list[DesignView] = []
    for d in store.designs():
        mine = sorted(by_design.get(d.name, []), key=lambda v: rungs.index(v.rung) if v.rung in rungs else -1)
        standing = board.get(d.name)
        designs.append(DesignView(
            name=d.name, phase=design_phase([v.phase for v in mine]), operation=d.operation, parents=d.parents,
            order=d.order,
            title=d.title, rating=standing.rating if standing else None, rank=standing.rank if standing else None,
            quadrant=standing.quadrant if standing else None,
            rungs=tuple(RungScores(v.rung, v.fitness, v.summary.get("fitness_stderr"), v.scores, v.baselines,
                                   v.summary.get("params"), v.device_seconds, v.summary.get("heldout_loss"),
                                   combined_stderr(records[v.name], spread[v.rung]) if v.rung in spread else None,
                                   v.summary.get("wall_seconds"), tuple(v.summary.get("threads") or ()))
                        for v in mine if v.phase == "succeeded" and v.fitness is not None),
            failed_rungs={v.rung: v.reason or "failed" for v in mine if v.phase == "failed"},
            failure=design_failure(None, [v.phase for v in mine]),
            created_at=d.created_at,
            lead_z=standing.lead_z if standing else None, versus=standing.versus if standing else None,
            session_usd=spent.get(d.name, 0.0),
        ))
    order = len(designs)
    for s in store.sessions():  # failed sessions never became designs, but users look for them
        if s.phase == "failed":
            designs.append(DesignView(name=s.name, phase="Failed", failure="SessionFailed",
                                      operation=s.operation, parents=s.parents,
                                      order=order, title="", rating=None, rank=None, quadrant=None,
                                      failed_rungs={"session": s.reason or "the design session failed"},
                                      created_at=s.started_at, session_usd=s.usd))
            order += 1
    budgets = rung_budgets(spec.ladder)
    usage = budget_usage(state, budgets, closed_rungs(state, spec, budgets))
    finished = sorted((v for v in rows if v.phase == "succeeded" and v.fitness is not None and v.repeat == 0),
                      key=lambda v: v.finished_at or 0.0)
    count = lambda items, phase: sum(1 for i in items if i.phase == phase)  # noqa: E731
    sessions = store.sessions()
    phase = cast(EvolutionPhase, store.get_meta("phase") or "Running")  # written from EvolutionPhase values
    finished_at = None  # stops the elapsed clock of a completed run
    if phase in ("Completed", "Failed"):
        recorded = store.get_meta("finished_at")
        ends = [i.finished_at for i in rows if i.finished_at] + [s.finished_at for s in sessions if s.finished_at]
        finished_at = float(recorded) if recorded else max(ends, default=None)  # runs from before that meta key
    return RunSnapshot(
        evolution=run.evolution.name,
        run_dir=str(run.run_dir),
        phase=phase,
        started_at=float(store.get_meta("started_at") or time.time()),
        updated_at=time.time(),
        rungs=tuple(rungs),
        designs=tuple(designs),
        budgets=tuple(BudgetView(u.rung, u.runs, u.released, u.used, u.running, u.device_seconds)
                      for u in usage.values()),
        sessions={p: count(sessions, p) for p in RECORD_PHASES},
        verifications={p: count(rows, p) for p in RECORD_PHASES},
        history=tuple((v.finished_at or 0.0, v.design, v.rung, v.fitness) for v in finished if v.fitness is not None),
        completed_reason=store.get_meta("completed_reason"),
        finished_at=finished_at,
        running_sessions=tuple(s.name for s in sessions if s.phase == "running"),
        running_verifications=tuple((v.design, v.rung, v.repeat) for v in rows if v.phase == "running"),
        repeats_done=tuple((v.design, v.rung, v.repeat, v.fitness) for v in rows
                           if v.repeat and v.phase == "succeeded" and v.fitness is not None),
        llm_usd=llm_spend(state),
    )
