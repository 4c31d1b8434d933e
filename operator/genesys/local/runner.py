"""`genesys run EVOLUTION.yaml`: the evolution loop on one machine.

    summary = run_evolution(Path("examples/evolution-local.yaml"), RunOptions(run_dir=Path("runs/demo")))

Each turn: collect finished children, read their results from the artifact store
into SQLite, ask the pure core `plan(state, spec, rng)` what to start, start it as
subprocesses. Stopping (Ctrl-C, SIGTERM) checkpoints the children; a later run of
the same command continues: results found on disk are recorded, lost children are
started again under the same name, so nothing is lost, duplicated or charged twice.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genesys.api import Design, loads_manifest, storage
from genesys.api.artifact_store import ArtifactStore
from genesys.api.evolution import Evolution
from genesys.api.rungs import PresetError, ladder_rungs
from genesys.api.seed_library import SeedError
from genesys.api.seed_library import resolve_seeds as resolve_seed_designs
from genesys.api.threads import available_cores
from genesys.evolution import (
    Complete,
    StartDesignSession,
    StartVerification,
    llm_spend,
    plan,
    releasable,
    turn_rng,
)
from genesys.evolution.launch import verification_job_spec
from genesys.evolution.outcomes import (
    DEFAULT_MAX_ATTEMPTS,
    Exit,
    next_design_order,
    settle_session,
    settle_verification,
)
from genesys.local.executor import Executor, Finished
from genesys.local.run_dir import (
    MANIFEST_FILE,
    STATE_FILE,
    STORE_META,
    OpenRun,
    RunDirError,
    build_snapshot,
    default_run_dir,
    open_run,
    store_root,
)
from genesys.local.snapshot import RunSnapshot
from genesys.local.store import RunStore

STOP_SIGNALS = (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True)
class RunOptions:
    run_dir: Path | None = None  # None: ./runs/<evolution name>
    store: str | None = None  # the artifact store's path or URL; None: spec.artifacts.url or <run dir>/artifacts
    poll_seconds: float = 1.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # starts of a child the runtime lost before it counts as failed


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
    try:
        return resolve_seed_designs(evolution, base)
    except SeedError as err:
        raise RunDirError(str(err)) from None


def check_rungs(evolution: Evolution) -> None:
    """Every rung exists and every override names a rung field of the right type (as the trainer reads them)."""
    try:
        ladder_rungs(evolution.spec.ladder)
    except PresetError as err:
        raise RunDirError(str(err)) from None


def prepare_run(evolution_file: Path, run_dir: Path | None, store: str | None = None) -> OpenRun:
    """Validate everything, then create (or reopen) the run dir; nothing is created for bad input."""
    evolution, text = load_evolution(evolution_file)
    run_dir = (run_dir or default_run_dir(evolution)).resolve()
    state_file = run_dir / STATE_FILE
    if state_file.exists():
        run = open_run(run_dir)
        if run.evolution.spec != evolution.spec or run.evolution.name != evolution.name:
            raise RunDirError(f"{run_dir} holds a run of evolution {run.evolution.name!r} with a different spec "
                              f"than {evolution_file}: restore the file to continue that run, or pass a new --run-dir")
        if store is not None and store_root(evolution, run_dir, store) != run.artifacts.root:
            raise RunDirError(f"{run_dir} keeps its artifacts in {run.artifacts.root}, not {store}: pass "
                              f"--store {run.artifacts.root} (or no --store) to continue it, or a new --run-dir")
        if run.store.get_meta("started_at") is None:  # the first start died before recording its seeds
            _record_seeds(run, resolve_seeds(evolution, evolution_file.resolve().parent))
        return run
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"{run_dir} exists and is not a genesys run dir: pass an empty or new --run-dir")
    artifacts = ArtifactStore(store_root(evolution, run_dir, store), evolution.name)
    seeds = resolve_seeds(evolution, evolution_file.resolve().parent)
    check_rungs(evolution)
    try:
        storage.probe(artifacts.root)
    except storage.StoreError as err:
        raise RunDirError(str(err)) from None
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        storage.write_text(str(run_dir / MANIFEST_FILE), text)
    except OSError as err:
        raise RunDirError(f"cannot write the run dir {run_dir}: {err.strerror}; pass a writable --run-dir") from None
    run = OpenRun(run_dir, evolution, RunStore.open(state_file), artifacts)
    run.store.set_meta(STORE_META, artifacts.root)
    _record_seeds(run, seeds)
    return run


def _record_seeds(run: OpenRun, seeds: list[Design]) -> None:
    """Seeds into the store and the population, and the start time, in one transaction."""
    with run.store.transaction() as db:
        for order, seed in enumerate(seeds):  # the population starts with the seeds, in the spec's order
            run.artifacts.write_design(seed)
            run.store.add_design(seed.name, "seed", (), order, seed.spec.proposal.title if seed.spec.proposal else "",
                                 db)
        run.store.set_meta("started_at", str(time.time()))
        run.store.set_meta("phase", "Running")


class Runner:
    def __init__(self, run: OpenRun, options: RunOptions, on_turn: Callable[[RunSnapshot, Executor], None]):
        self.run = run
        self.spec = run.evolution.spec
        self.options = options
        self.on_turn = on_turn
        # a child writing to a remote store keeps its scratch (checkpoints) under the run dir, where
        # its restart finds them again
        self.executor = Executor(available_cores(), run.run_dir / "threads",
                                 threads_per_process=self.spec.parallelism.threads_per_process,
                                 extra_env={storage.WORK_DIR_ENV: str(run.run_dir / "work")})
        self.stop_requested = False
        self.started = float(run.store.get_meta("started_at") or time.time())
        self.started_order: list[tuple[str, str]] = []  # running children, oldest first
        self.finished: dict[tuple[str, str], Finished] = {}  # exited, waiting for their elders
        self.plan_pending = True

    def _start_session(self, name: str, attempt: int) -> None:
        store = self.run.store
        session = next(s for s in store.sessions() if s.name == name)
        artifacts = self.run.artifacts
        # what the others have spent, for llm.evolutionCostCapUSD (a restarted session is running: not counted)
        job = artifacts.write_session_job(name, session.operation, session.parents, session.seed,
                                          self.spec.designer, attempt, spent_usd=llm_spend(store.state()))
        self.executor.start_session(name=name, job_file=job, out=artifacts.design_dir(name),
                                    log=self.run.run_dir / "logs" / f"session-{name}.log")

    def _start_verification(self, action: StartVerification, attempt: int) -> None:
        """Start (or restart) one verification, from the job the core builds for it."""
        artifacts = self.run.artifacts
        spec = verification_job_spec(self.run.evolution, action, str(artifacts.design_file(action.design)),
                                     checked=artifacts.checked(action.design), attempt=attempt)
        job = artifacts.write_verification_job(action.name, spec)
        self.executor.start_verification(name=action.name, job_file=job, out=artifacts.verification_dir(action.name),
                                         nproc=self.spec.parallelism.nproc_per_verification,
                                         log=self.run.run_dir / "logs" / f"verification-{action.name}.log")

    def _settle_session(self, name: str, finished: Finished | None) -> bool:
        """Record a session's outcome as the core settles it (True), or start a lost one again (False)."""
        store = self.run.store
        row = next(s for s in store.sessions() if s.name == name)
        settled = settle_session(self.run.artifacts.read_session(name), _exit(finished), attempts=row.attempts,
                                 max_attempts=self.options.max_attempts)
        if settled.verdict == "retry":
            store.retry_session(name)
            self._start_session(name, row.attempts + 1)
            return False
        store.finish_session(name, settled.verdict == "succeeded", settled.reason, title=settled.title,
                             order=next_design_order(store.state()), usd=settled.usd)
        return True

    def _settle_verification(self, name: str, finished: Finished | None) -> bool:
        """Record a verification's outcome as the core settles it (True), or restart a lost one from its
        checkpoint, under the same name and budget charge (False)."""
        store = self.run.store
        row = next(v for v in store.verifications() if v.name == name)
        settled = settle_verification(self.run.artifacts.read_verification(name), _exit(finished),
                                      attempts=row.attempts, max_attempts=self.options.max_attempts)
        if settled.verdict == "retry":
            store.retry_verification(name)
            self._start_verification(StartVerification(name, row.design, row.rung, row.repeat), row.attempts + 1)
            return False
        store.finish_verification(name, settled)
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
                self._start_verification(action, attempt=1)
                self.started_order.append(("verification", action.name))
            elif isinstance(action, StartDesignSession):
                store.start_session(action.name, action.operation, action.parents, action.seed)
                self._start_session(action.name, attempt=1)
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
        store.set_meta("phase", "Interrupted" if completed is None else "Failed" if completed.failed else "Completed")
        return RunResult(build_snapshot(self.run), completed is not None)


def _exit(finished: Finished | None) -> Exit | None:
    """How the runtime saw a child end: stopped by a signal from outside (ours, the OOM killer's),
    or by itself (an exit code, or a crash such as SIGSEGV in unit code)."""
    if finished is None:
        return None
    return Exit(finished.returncode, killed=-finished.returncode in STOP_SIGNALS, log=str(finished.log))


def run_evolution(evolution_file: Path, options: RunOptions = RunOptions(),
                  on_turn: Callable[[RunSnapshot, Executor], None] = lambda snapshot, executor: None,
                  on_start: Callable[[OpenRun], None] = lambda run: None) -> RunResult:
    """Run (or continue) an evolution until it completes or SIGINT/SIGTERM arrives."""
    run = prepare_run(evolution_file, options.run_dir, options.store)
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

