"""`genesys run EVOLUTION.yaml`: the evolution loop on one machine.

    summary = run_evolution(Path("examples/evolution-local.yaml"), RunOptions(run_dir=Path("runs/demo")))

Each turn: collect finished children, read their results from the artifact store
into SQLite, ask the pure core `plan(state, spec, rng)` what to start, start it as
subprocesses. Stopping (Ctrl-C, SIGTERM) checkpoints the children; a later run of
the same command continues: results found on disk are recorded, lost children are
started again under the same name, so nothing is lost, duplicated or charged twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genesys.api import Design, load_manifest, loads_manifest
from genesys.api.evolution import Evolution
from genesys.api.threads import available_cores
from genesys.evolution import Complete, StartDesignSession, StartVerification, plan, releasable, turn_rng
from genesys.local.artifacts import ArtifactStore, read_session, read_verification, write_atomic
from genesys.local.executor import Executor, Finished
from genesys.local.run_dir import (
    MANIFEST_FILE,
    STATE_FILE,
    OpenRun,
    RunDirError,
    build_snapshot,
    default_run_dir,
    open_run,
    store_root,
)
from genesys.local.snapshot import RunSnapshot
from genesys.local.store import RunStore


@dataclass(frozen=True)
class RunOptions:
    run_dir: Path | None = None  # None: ./runs/<evolution name>
    poll_seconds: float = 1.0
    max_attempts: int = 3  # starts of a child the runtime lost before it counts as failed


@dataclass(frozen=True)
class RunResult:
    snapshot: RunSnapshot
    completed: bool  # False: interrupted (run the same command again to continue)


def load_evolution(path: Path) -> tuple[Evolution, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RunDirError(f"cannot read {path}: {err.strerror}; pass an Evolution manifest file") from None
    return loads_manifest(text, Evolution, str(path)), text


def resolve_seeds(evolution: Evolution, base: Path) -> list[Design]:
    """Seed designs: library names (the manifests genesys.api ships) or Design files relative to `base`."""
    from genesys.api.seed_library import SeedError
    from genesys.api.seed_library import resolve_seeds as resolve

    try:
        return resolve(evolution, base)
    except SeedError as err:
        raise RunDirError(str(err)) from None


def rung_overrides(evolution: Evolution, rung: str) -> dict:
    ladder = evolution.spec.ladder
    return {**ladder.overrides, **ladder.rung(rung).overrides}


def check_rungs(evolution: Evolution) -> None:
    """Every rung exists and every override names a rung field of the right type (as the trainer reads them)."""
    from genesys.api.rungs import PresetError, ladder_rungs

    try:
        ladder_rungs(evolution.spec.ladder)
    except PresetError as err:
        raise RunDirError(str(err)) from None


def prepare_run(evolution_file: Path, run_dir: Path | None) -> OpenRun:
    """Validate everything, then create (or reopen) the run dir; nothing is created for bad input."""
    evolution, text = load_evolution(evolution_file)
    run_dir = (run_dir or default_run_dir(evolution)).resolve()
    state_file = run_dir / STATE_FILE
    if state_file.exists():
        run = open_run(run_dir)
        if run.evolution.spec != evolution.spec or run.evolution.name != evolution.name:
            raise RunDirError(f"{run_dir} holds a run of evolution {run.evolution.name!r} with a different spec "
                              f"than {evolution_file}: restore the file to continue that run, or pass a new --run-dir")
        if run.store.get_meta("started_at") is None:  # the first start died before recording its seeds
            _record_seeds(run, resolve_seeds(evolution, evolution_file.resolve().parent))
        return run
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"{run_dir} exists and is not a genesys run dir: pass an empty or new --run-dir")
    artifacts = ArtifactStore(store_root(evolution, run_dir), evolution.name)
    seeds = resolve_seeds(evolution, evolution_file.resolve().parent)
    check_rungs(evolution)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / MANIFEST_FILE, text)
    except OSError as err:
        raise RunDirError(f"cannot write the run dir {run_dir}: {err.strerror}; pass a writable --run-dir") from None
    run = OpenRun(run_dir, evolution, RunStore.open(state_file), artifacts)
    _record_seeds(run, seeds)
    return run


def _record_seeds(run: OpenRun, seeds: list[Design]) -> None:
    """Seeds into the store and the population, and the start time, in one transaction."""
    with run.store.transaction() as db:
        for seed in seeds:
            run.artifacts.write_design(seed)
            run.store.add_design(seed.name, "seed", (), seed.spec.proposal.title if seed.spec.proposal else "", db)
        run.store.set_meta("started_at", str(time.time()))
        run.store.set_meta("phase", "Running")


class Runner:
    def __init__(self, run: OpenRun, options: RunOptions, on_turn: Callable[[RunSnapshot, Executor], None]):
        self.run = run
        self.spec = run.evolution.spec
        self.options = options
        self.on_turn = on_turn
        self.executor = Executor(available_cores(), run.run_dir / "threads",
                                 threads_per_process=self.spec.parallelism.threads_per_process)
        self.stop_requested = False
        self.started = float(run.store.get_meta("started_at") or time.time())
        self.started_order: list[tuple[str, str]] = []  # running children, oldest first
        self.finished: dict[tuple[str, str], Finished] = {}  # exited, waiting for their elders
        self.plan_pending = True

    # -- children -----------------------------------------------------------------------------
    def _start_session(self, name: str, operation: str, parents: tuple[str, ...], seed: int) -> None:
        self.executor.start_session(
            evolution_file=self.run.run_dir / MANIFEST_FILE, store=self.run.artifacts.root, name=name,
            operation=operation, parents=parents, seed=seed, out=self.run.artifacts.design_dir(name),
            log=self.run.run_dir / "logs" / f"session-{name}.log")

    def _start_verification(self, name: str, design: str, rung: str, repeat: int) -> None:
        """Start (or restart) one verification; repeat k trains with seed spec.seed + k (calibration runs)."""
        artifacts = self.run.artifacts
        checked = (artifacts.design_dir(design) / "check.json").exists()  # the design session checked it
        job = artifacts.write_job(name, design, rung, rung_overrides(self.run.evolution, rung),
                                  self.spec.evaluation.tasks, self.spec.data.source, self.spec.seed + repeat,
                                  not checked)
        self.executor.start_verification(name=name, job_file=job, out=artifacts.verification_dir(name),
                                         nproc=self.spec.parallelism.nproc_per_verification,
                                         log=self.run.run_dir / "logs" / f"verification-{name}.log")

    def _settle_session(self, name: str, finished: Finished | None) -> bool:
        """Record a session's outcome (True); a session the runtime lost (no outcome on disk) starts again (False)."""
        store = self.run.store
        outcome = read_session(self.run.artifacts, name)
        if outcome.status == "succeeded":
            store.finish_session(name, True, title=outcome.title)
            return True
        if outcome.status == "failed":
            store.finish_session(name, False, outcome.reason)
            return True
        row = next(s for s in store.sessions() if s.name == name)
        if finished is not None and finished.returncode not in (-signal.SIGTERM, -signal.SIGKILL):
            store.finish_session(name, False, f"exited with code {finished.returncode} without writing "
                                              f"design.yaml or failed.json; see {finished.log}")
        elif row.attempts >= self.options.max_attempts:
            store.finish_session(name, False, f"lost {row.attempts} times (killed before finishing)")
        else:
            store.retry_session(name)
            self._start_session(name, row.operation, row.parents, row.seed)
            return False
        return True

    def _settle_verification(self, name: str, finished: Finished | None) -> bool:
        """Record a verification's outcome (True), or restart one the runtime lost (False)."""
        store = self.run.store
        outcome = read_verification(self.run.artifacts, name)
        if outcome.status in ("succeeded", "failed"):
            store.finish_verification(name, outcome.status == "succeeded", reason=outcome.reason,
                                      fitness=outcome.fitness, scores=outcome.scores, baselines=outcome.baselines,
                                      device_seconds=outcome.device_seconds, summary=outcome.summary)
            return True
        row = next(v for v in store.verifications() if v.name == name)
        lost = finished is None or outcome.status == "interrupted" or finished.returncode < 0
        if not lost:
            store.finish_verification(name, False, reason=f"no_result: exited with code {finished.returncode} "
                                                          f"without writing result.json; see {finished.log}")
        elif row.attempts >= self.options.max_attempts:
            store.finish_verification(name, False, reason=f"preempted: interrupted {row.attempts} times")
        else:  # resumes from its last checkpoint, under the same name and budget charge
            store.retry_verification(name)
            self._start_verification(name, row.design, row.rung, row.repeat)
            return False
        return True

    def recover(self) -> None:
        """Children recorded as running belong to a runner that stopped: settle or restart them.

        Those restarted keep their place in the start order (oldest first).
        """
        store = self.run.store
        running = [(s.started_at, "session", s.name) for s in store.sessions() if s.phase == "running"]
        running += [(v.started_at, "verification", v.name) for v in store.verifications() if v.phase == "running"]
        for _, kind, name in sorted(running):
            settled = self._settle_session(name, None) if kind == "session" else self._settle_verification(name, None)
            if not settled:
                self.started_order.append((kind, name))

    # -- the loop -----------------------------------------------------------------------------
    def _settle(self, finished: Finished) -> bool:
        if finished.kind == "session":
            return self._settle_session(finished.name, finished)
        return self._settle_verification(finished.name, finished)

    def _plan(self) -> Complete | None:
        """One planning pass: ask the core, record and start what it decided."""
        store = self.run.store
        state = store.state((time.time() - self.started) / 3600)
        for action in plan(state, self.spec, turn_rng(self.spec.seed, state)):
            if isinstance(action, Complete):
                return action
            if isinstance(action, StartVerification):
                store.start_verification(action.name, action.design, action.rung, action.repeat)
                self._start_verification(action.name, action.design, action.rung, action.repeat)
                self.started_order.append(("verification", action.name))
            elif isinstance(action, StartDesignSession):
                store.start_session(action.name, action.operation, action.parents, action.seed)
                self._start_session(action.name, action.operation, action.parents, action.seed)
                self.started_order.append(("session", action.name))
        return None

    def turn(self) -> Complete | None:
        """Record finished children in the order they started, planning once after each
        (genesys.evolution.ordering: the same spec and seed make the same decisions)."""
        for finished in self.executor.poll():
            self.finished[(finished.kind, finished.name)] = finished
        if self.plan_pending:  # the first pass of this runner, before any outcome
            self.plan_pending = False
            if (completed := self._plan()) is not None:
                return completed
        for key in releasable(self.started_order, self.finished):
            if not self._settle(self.finished.pop(key)):
                break  # lost and restarted: it stays the eldest
            self.started_order.remove(key)
            if (completed := self._plan()) is not None:
                return completed
        return None

    def loop(self) -> RunResult:
        store = self.run.store
        store.set_meta("phase", "Running")
        self.recover()
        completed = None
        try:
            while not self.stop_requested:
                completed = self.turn()
                self.on_turn(build_snapshot(self.run, (time.time() - self.started) / 3600), self.executor)
                if completed is not None:
                    break
                time.sleep(self.options.poll_seconds)
        finally:
            self.executor.stop_all()
        if completed is not None:
            store.set_meta("completed_reason", completed.reason)
            if store.get_meta("finished_at") is None:  # running a completed run again keeps its finish time
                store.set_meta("finished_at", str(time.time()))
        store.set_meta("phase", "Completed" if completed is not None else "Interrupted")
        return RunResult(build_snapshot(self.run), completed is not None)


def run_evolution(evolution_file: Path, options: RunOptions = RunOptions(),
                  on_turn: Callable[[RunSnapshot, Executor], None] = lambda snapshot, executor: None,
                  on_start: Callable[[OpenRun], None] = lambda run: None) -> RunResult:
    """Run (or continue) an evolution until it completes or SIGINT/SIGTERM arrives."""
    run = prepare_run(evolution_file, options.run_dir)
    runner = Runner(run, options, on_turn)
    on_start(run)

    def request_stop(signum, frame) -> None:
        runner.stop_requested = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return runner.loop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        run.store.close()

