"""One planning pass of an Evolution on a cluster: the operator's counterpart of `genesys.local.runner`.

    reconciler = Reconciler(cluster, config, events=post_event, metrics=metrics)
    reconciler.reconcile(evolution_object)     # the timer calls this; every step is idempotent

A pass takes a fresh LIST of the Evolution's Designs, VerificationJobs and their children,
starts the children that belong to running records (a session Job per designing Design,
a training child per VerificationJob), records finished children in the order they were
started, planning after each (`genesys.evolution.ordering`), and writes the statuses the
state implies. Names are deterministic and creating twice is a 409, so a pass killed at
any point is simply done again by the next one: the API server's objects are the state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from genesys.api import Design, dump_manifest, storage
from genesys.api.artifact_store import ArtifactStore
from genesys.api.design import DesignStatus
from genesys.api.evolution import Evolution
from genesys.api.results import VerificationResult
from genesys.evolution import (
    Complete,
    StartDesignSession,
    StartVerification,
    llm_spend,
    plan,
    releasable,
    turn_rng,
)
from genesys.evolution.outcomes import Exit, next_design_order, settle_session, settle_verification
from genesys.evolution.state import EvolutionState
from genesys.observability.metrics import EvolutionMetrics
from genesys.operator.builders import (
    ATTEMPT_ANNOTATION,
    SEED_ANNOTATION,
    OperatorConfig,
    build_design,
    build_scale_budgets,
    build_seed_design,
    build_session_job,
    build_verification_job,
    layout_of,
    session_job_manifest,
    verification_job_manifest,
)
from genesys.operator.children import child_exit, rank_zero
from genesys.operator.cluster import KINDS, Cluster
from genesys.operator.names import annotation, k8s_name, logical_name
from genesys.operator.state import evolution_state, session_phase, start_order
from genesys.operator.status import changed, design_view, status_view
from genesys.operator.training import TRAINING_NAME_LIMIT, build_training
from genesys.operator.validation import resolve_cluster_seeds

# (object, type Normal|Warning, reason, message): posted as a Kubernetes Event on the object
EventSink = Callable[[Mapping[str, Any], str, str, str], None]
Key = tuple[str, str]  # ("session" | "verification", logical name)
FINAL_VJ = ("Succeeded", "Failed")
POD_ANNOTATION = "genesys.dev/rank-zero-pod"  # uid of the training child's rank-0 pod the operator saw last


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _attempt(child: Mapping[str, Any] | None) -> int:
    value = annotation(child, ATTEMPT_ANNOTATION) if child is not None else None
    return int(value) if value is not None else 1


class Pass:
    """The objects of one Evolution as one pass sees them, kept current as the pass writes."""

    def __init__(self, cluster: Cluster, evolution: Evolution, pytorchjobs: bool):
        name = evolution.name
        self.designs = {o["metadata"]["name"]: o for o in cluster.list("designs", evolution=name)}
        self.vjs = {o["metadata"]["name"]: o for o in cluster.list("verificationjobs", evolution=name)}
        self.jobs = {o["metadata"]["name"]: o for o in cluster.list("jobs", evolution=name)}
        self.pytorchjobs = ({o["metadata"]["name"]: o for o in cluster.list("pytorchjobs", evolution=name)}
                            if pytorchjobs else {})
        self.pods = cluster.list("pods", evolution=name)

    def pods_of(self, child_name: str) -> list[dict[str, Any]]:
        keys = ("batch.kubernetes.io/job-name", "job-name", "training.kubeflow.org/job-name")
        return [p for p in self.pods
                if any((p["metadata"].get("labels") or {}).get(k) == child_name for k in keys)]

    def state(self, started: datetime | None) -> EvolutionState:
        return evolution_state(list(self.designs.values()), list(self.vjs.values()), now(), started)

    def started_count(self) -> int:
        """Sessions and verifications started so far: the next child's place in the start order."""
        sessions = sum(1 for d in self.designs.values() if design_view(d).operation != "seed")
        return sessions + len(self.vjs)


@dataclass(frozen=True)
class PassResult:
    evolution_status: dict[str, Any]  # derived fields of the Evolution's status
    completed: Complete | None  # the run has ended, and why


class Reconciler:
    def __init__(self, cluster: Cluster, config: OperatorConfig, *, events: EventSink | None = None,
                 metrics: EvolutionMetrics | None = None):
        self.cluster = cluster
        self.config = config
        self.events = events or (lambda obj, kind, reason, message: None)
        self.metrics = metrics

    # ---- setup -------------------------------------------------------------------------------

    def initialize(self, evolution: Evolution) -> None:
        """Store the Evolution and its seeds, create its ScaleBudgets and seed Designs (idempotent)."""
        seeds = resolve_cluster_seeds(evolution)
        layout = layout_of(evolution, self.config)
        storage.write_text(layout.evolution_file(), dump_manifest(evolution))
        store = ArtifactStore(layout.root, evolution.name)
        for seed in seeds:
            store.write_design(seed)
        for budget in build_scale_budgets(evolution, self.config):
            self.cluster.create(budget)
        self._ensure_seeds(evolution, seeds, {})

    def _ensure_seeds(self, evolution: Evolution, seeds: list[Design], designs: dict[str, dict[str, Any]]) -> None:
        """Each seed's Design with its order recorded (a pass stopped between the two finishes here)."""
        for order, seed in enumerate(seeds):
            manifest = build_seed_design(evolution, seed, order, self.config)
            name = manifest["metadata"]["name"]
            current = designs.get(name) or self.cluster.create(manifest) or self.cluster.get("designs", name)
            if current is not None:
                designs[name] = current
            if current is not None and (current.get("status") or {}).get("order") is None:
                designs[name] = self.cluster.patch_status("designs", name, manifest["status"])

    # ---- one pass ----------------------------------------------------------------------------

    def reconcile(self, obj: Mapping[str, Any], evolution: Evolution) -> PassResult:
        """One pass: what the Evolution's status should say, and the core's Complete once the run has ended."""
        started = parse_time((obj.get("status") or {}).get("startTime"))
        kids = Pass(self.cluster, evolution, self.config.pytorchjob_available)
        self._ensure_seeds(evolution, resolve_cluster_seeds(evolution), kids.designs)
        order, finished = self._follow(evolution, kids)
        completed = None
        for key in releasable(order, finished):
            if not self._settle(evolution, kids, key, finished[key], started):
                break  # lost and started again: it stays the eldest
            if (completed := self._plan(evolution, kids, started)) is not None:
                break
        if completed is None:
            completed = self._plan(evolution, kids, started)
        return PassResult(self._write_statuses(evolution, kids, started), completed)

    def _plan(self, evolution: Evolution, kids: Pass, started: datetime | None) -> Complete | None:
        state = kids.state(started)
        for action in plan(state, evolution.spec, turn_rng(evolution.spec.seed, state)):
            if isinstance(action, Complete):
                return action
            if isinstance(action, StartDesignSession):
                self._start_design(evolution, kids, action)
            elif isinstance(action, StartVerification):
                self._start_verification_job(evolution, kids, action)
        return None

    def _start_design(self, evolution: Evolution, kids: Pass, action: StartDesignSession) -> None:
        manifest = build_design(evolution, action, self.config, start=kids.started_count())
        name = manifest["metadata"]["name"]
        created = self.cluster.create(manifest) or self.cluster.get("designs", name)
        if created is not None:
            kids.designs[name] = self.cluster.patch_status("designs", name, manifest["status"])
            self._start_session(evolution, kids, name, 1)

    def _start_verification_job(self, evolution: Evolution, kids: Pass, action: StartVerification) -> None:
        design = next(d for d in kids.designs.values() if logical_name(d) == action.design)
        store = ArtifactStore(layout_of(evolution, self.config).root, evolution.name)
        manifest = build_verification_job(evolution, action, design, self.config,
                                          checked=store.checked(action.design), start=kids.started_count())
        name = manifest["metadata"]["name"]
        created = self.cluster.create(manifest) or self.cluster.get("verificationjobs", name)
        if created is not None:
            kids.vjs[name] = self.cluster.patch_status("verificationjobs", name, manifest["status"])
            self._start_training(evolution, kids, name, 1)

    # ---- children ----------------------------------------------------------------------------

    def _follow(self, evolution: Evolution, kids: Pass) -> tuple[list[Key], dict[Key, Exit]]:
        """Start the children running records lack; return the start order and how finished ones ended."""
        running: list[tuple[tuple[int, str], Key]] = []
        finished: dict[Key, Exit] = {}
        for name, design in list(kids.designs.items()):
            view = design_view(design)
            if session_phase(view, _design_status(design)) != "running":
                continue
            key = ("session", logical_name(design))
            running.append((start_order(design), key))
            if (ended := self._follow_session(evolution, kids, name)) is not None:
                finished[key] = ended
        for name, vj in list(kids.vjs.items()):
            if (vj.get("status") or {}).get("phase") in FINAL_VJ:
                continue
            key = ("verification", logical_name(vj))
            running.append((start_order(vj), key))
            if (ended := self._follow_training(evolution, kids, name)) is not None:
                finished[key] = ended
        return [key for _, key in sorted(running)], finished

    def _follow_session(self, evolution: Evolution, kids: Pass, name: str) -> Exit | None:
        design = kids.designs[name]
        status = design.get("status") or {}
        if status.get("sessionSeed") is None:  # created, its status never written: from the annotation
            design = kids.designs[name] = self.cluster.patch_status(
                "designs", name, {"phase": "Designing", "sessionSeed": int(annotation(design, SEED_ANNOTATION) or 0)})
            status = design["status"]
        attempts = int(status.get("sessionAttempts") or 0)
        job = kids.jobs.get(name)
        if attempts == 0 or (job is not None and _attempt(job) < attempts):
            self._start_session(evolution, kids, name, max(attempts, 1))
            return None
        return child_exit(job, kids.pods_of(name))

    def _start_session(self, evolution: Evolution, kids: Pass, name: str, attempt: int) -> None:
        design = kids.designs[name]
        view, status = design_view(design), design.get("status") or {}
        action = StartDesignSession(logical_name(design), view.operation, tuple(view.parents),  # type: ignore[arg-type]
                                    int(status["sessionSeed"]))
        job_file = layout_of(evolution, self.config).session_job_file(action.name)
        # what the others have spent, for llm.evolutionCostCapUSD (this one is running: not counted)
        manifest = session_job_manifest(evolution, action, self.config, attempt, spent_usd=llm_spend(kids.state(None)))
        storage.write_text(job_file, dump_manifest(manifest))
        job = build_session_job(evolution, design, self.config)
        job["metadata"]["annotations"][ATTEMPT_ANNOTATION] = str(attempt)
        self._replace_child(kids.jobs, job)
        kids.designs[name] = self.cluster.patch_status("designs", name, {"sessionAttempts": attempt})

    def _training_child(self, evolution: Evolution, kids: Pass, vj: Mapping[str, Any]
                        ) -> tuple[str, dict[str, Any] | None]:
        child_name = k8s_name(evolution.name, logical_name(vj), TRAINING_NAME_LIMIT)
        return child_name, (kids.pytorchjobs if self.config.pytorchjob_available else kids.jobs).get(child_name)

    def _follow_training(self, evolution: Evolution, kids: Pass, name: str) -> Exit | None:
        """The operator's start of the child is the VerificationJob's attempt annotation (status.attempts
        also counts the child's own restarts of preempted pods, which are the Job's business)."""
        vj = kids.vjs[name]
        started = int(annotation(vj, ATTEMPT_ANNOTATION) or 0)
        child_name, child = self._training_child(evolution, kids, vj)
        if started == 0 or (child is not None and _attempt(child) < started):
            self._start_training(evolution, kids, name, max(started, 1))
            return None
        pods = kids.pods_of(child_name)
        if child is not None:
            self._observe_training(kids, name, child, pods)
        return child_exit(child, pods)

    def _observe_training(self, kids: Pass, name: str, child: Mapping[str, Any],
                          pods: list[dict[str, Any]]) -> None:
        """Running once its child is admitted; a new rank-0 pod is a start too (its controller restarted a
        preempted one), counted in status.attempts. The pod last seen is an annotation of the VerificationJob."""
        vj = kids.vjs[name]
        status = vj.get("status") or {}
        fields: dict[str, Any] = {}
        if status.get("phase") == "Pending" and not _suspended(child):
            fields["phase"] = "Running"
        pod = rank_zero(pods)
        seen = annotation(vj, POD_ANNOTATION)
        if pod is not None and pod["metadata"].get("uid") != seen:
            if seen is not None:
                fields["attempts"] = int(status.get("attempts") or 1) + 1
            kids.vjs[name] = self.cluster.patch("verificationjobs", name, {
                "metadata": {"annotations": {POD_ANNOTATION: pod["metadata"].get("uid")}}})
        if fields:
            kids.vjs[name] = self.cluster.patch_status("verificationjobs", name, fields)

    def _start_training(self, evolution: Evolution, kids: Pass, name: str, attempt: int,
                        shown: int | None = None) -> None:
        """Start the child of `attempt` (the operator's start count); `shown`: status.attempts to show."""
        vj = kids.vjs[name]
        layout = layout_of(evolution, self.config)
        storage.write_text(layout.job_file(logical_name(vj)), dump_manifest(verification_job_manifest(vj, attempt)))
        if annotation(vj, ATTEMPT_ANNOTATION) != str(attempt):  # before the child: a stop in between retries it
            vj = kids.vjs[name] = self.cluster.patch("verificationjobs", name, {
                "metadata": {"annotations": {ATTEMPT_ANNOTATION: str(attempt), POD_ANNOTATION: None}}})
        for child in build_training(evolution, vj, self.config):
            child["metadata"]["annotations"][ATTEMPT_ANNOTATION] = str(attempt)
            if child["kind"] == "Service":
                self.cluster.create(child)
            else:
                self._replace_child(kids.pytorchjobs if child["kind"] == "PyTorchJob" else kids.jobs, child)
        shown = max(attempt, shown or 0, int((vj.get("status") or {}).get("attempts") or 0))
        status: dict[str, Any] = {"attempts": shown, "phase": "Pending"}
        if attempt == 1:
            status["startTime"] = timestamp(now())
        kids.vjs[name] = self.cluster.patch_status("verificationjobs", name, status)

    def _replace_child(self, listed: dict[str, dict[str, Any]], child: dict[str, Any]) -> None:
        """Create the child of this attempt; an earlier attempt's child under the name is deleted first.

        If the old one is still terminating the create is a 409: the next pass tries again.
        """
        name = child["metadata"]["name"]
        old = listed.get(name)
        if old is not None and _attempt(old) < _attempt(child):
            self.cluster.delete(KINDS[child["kind"]], name)
        created = self.cluster.create(child)
        if created is not None:
            listed[name] = created

    # ---- outcomes ----------------------------------------------------------------------------

    def _settle(self, evolution: Evolution, kids: Pass, key: Key, ended: Exit, started: datetime | None) -> bool:
        kind, logical = key
        if kind == "session":
            return self._settle_session(evolution, kids, k8s_name(evolution.name, logical), ended, started)
        return self._settle_verification(evolution, kids, k8s_name(evolution.name, logical), ended)

    def _settle_session(self, evolution: Evolution, kids: Pass, name: str, ended: Exit,
                        started: datetime | None) -> bool:
        design = kids.designs[name]
        logical = logical_name(design)
        status = design.get("status") or {}
        attempts = int(status.get("sessionAttempts") or 1)
        store = ArtifactStore(layout_of(evolution, self.config).root, evolution.name)
        outcome = store.read_session(logical)
        settled = settle_session(outcome, ended, attempts=attempts, max_attempts=self.config.max_attempts)
        if settled.verdict == "retry":
            self._start_session(evolution, kids, name, attempts + 1)
            return False
        usd = settled.usd
        if settled.verdict == "succeeded":
            made = store.read_design(logical)
            assert made is not None  # read_session checked that it loads
            spec = made.spec.model_dump(mode="json", by_alias=True, exclude_none=True,
                                        exclude={"evolution", "parents", "operation"})
            design = self.cluster.patch("designs", name, {"spec": spec})
            fields = {"phase": "Implemented", "order": next_design_order(kids.state(started)), "sessionUsd": usd,
                      "reason": None}
            self.events(design, "Normal", "Implemented", f"design {logical}: {settled.title}")
        else:
            fields = {"phase": "Failed", "failure": "SessionFailed", "reason": settled.reason, "sessionUsd": usd}
            self.events(design, "Warning", "SessionFailed", f"design session {logical} failed: {settled.reason}")
        kids.designs[name] = self.cluster.patch_status("designs", name, fields)
        if self.metrics is not None:
            self.metrics.session_finished(evolution.name, settled.verdict, usd)
        return True

    def _settle_verification(self, evolution: Evolution, kids: Pass, name: str, ended: Exit) -> bool:
        vj = kids.vjs[name]
        logical = logical_name(vj)
        status = vj.get("status") or {}
        # the operator's starts bound its retries; a Job's own pod restarts are the Job's (its backoffLimit)
        attempts = int(annotation(vj, ATTEMPT_ANNOTATION) or 1)
        store = ArtifactStore(layout_of(evolution, self.config).root, evolution.name)
        result = store.read_verification(logical)
        settled = settle_verification(result, ended, attempts=attempts, max_attempts=self.config.max_attempts)
        if settled.verdict == "retry":
            self.events(vj, "Warning", "Restarted", f"verification {logical} was interrupted; starting attempt "
                                                    f"{attempts + 1} from its checkpoint")
            self._start_training(evolution, kids, name, attempts + 1, shown=int(status.get("attempts") or 0) + 1)
            return False
        fields = {
            "phase": "Succeeded" if settled.verdict == "succeeded" else "Failed",
            "fitness": settled.fitness, "fitnessStderr": settled.fitness_stderr, "scores": dict(settled.scores),
            "baselines": dict(settled.baselines), "deviceSeconds": settled.device_seconds,
            "charged": settled.charged, "reason": settled.reason, "completionTime": timestamp(now()),
        }
        kids.vjs[name] = self.cluster.patch_status("verificationjobs", name, fields)
        rung = vj["spec"]["rung"]
        if settled.verdict == "succeeded":
            self.events(vj, "Normal", "Succeeded", f"{annotation(vj, 'genesys.dev/design')} at {rung}: "
                                                  f"fitness {settled.fitness:.4f}")
        else:
            self.events(vj, "Warning", "VerificationFailed", f"{logical}: {settled.reason}")
        if self.metrics is not None:
            train = result.train if isinstance(result, VerificationResult) else None
            self.metrics.verification_finished(evolution.name, rung, settled.verdict,
                                               float(settled.summary.get("wall_seconds") or 0.0), train=train)
        return True

    # ---- the end -----------------------------------------------------------------------------

    def ending(self, obj: Mapping[str, Any], completed: Complete) -> dict[str, Any]:
        """The Evolution's status fields once its run has ended, and its Event: Completed, or Failed (its
        LLM designer cannot be used; the operator has no key of its own, so a first session that finds it
        unusable is the operator's preflight) with Ready=False and a Warning naming the reason."""
        phase, reason = ("Failed", "DesignerUnavailable") if completed.failed else ("Completed", "Completed")
        generation = (obj.get("metadata") or {}).get("generation")
        ready = {"type": "Ready", "status": "False", "reason": reason, "message": completed.reason,
                 "lastTransitionTime": timestamp(now()), "observedGeneration": generation}
        self.events(obj, "Warning" if completed.failed else "Normal", reason, completed.reason)
        return {"phase": phase, "completedReason": completed.reason, "conditions": [ready]}

    # ---- statuses ----------------------------------------------------------------------------

    def _write_statuses(self, evolution: Evolution, kids: Pass, started: datetime | None) -> dict[str, Any]:
        """Patch the Designs' and ScaleBudgets' derived statuses; return the Evolution's."""
        state = kids.state(started)
        view = status_view(evolution, list(kids.designs.values()), list(kids.vjs.values()), state)
        for name, fields in view.designs.items():
            before = kids.designs[name]
            if patch := changed(before.get("status"), fields):
                kids.designs[name] = self.cluster.patch_status("designs", name, patch)
                if patch.get("phase") == "Verified":
                    self.events(before, "Normal", "Verified", f"best fitness {fields['bestFitness']:.4f} at "
                                                              f"{fields['bestRung']}")
        for budget in self.cluster.list("scalebudgets", evolution=evolution.name):
            usage = view.budgets.get(budget["spec"]["rung"])
            if usage is not None and (patch := changed(budget.get("status"), usage)):
                self.cluster.patch_status("scalebudgets", budget["metadata"]["name"], patch)
        if self.metrics is not None:
            self.metrics.update(evolution.name, evolution.spec, state)
        return view.evolution


def _design_status(design: Mapping[str, Any]) -> DesignStatus:
    return DesignStatus.model_validate(design.get("status") or {})


def _suspended(child: Mapping[str, Any]) -> bool:
    spec = child.get("spec") or {}
    return bool(spec.get("suspend") or (spec.get("runPolicy") or {}).get("suspend"))
