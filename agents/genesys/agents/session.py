"""One design session from its job manifest: the entry point pods and local subprocesses run.

    python -m genesys.agents.session --job STORE/EVO/designs/NAME/job.yaml --out STORE/EVO/designs/NAME

Reads the parents and every existing design from the artifact store, asks the job's
`Designer` (GP, or the LLM designer of genesys.agents.llm_designer) for a design,
and writes OUT/design.yaml and check.json, then outcome.json (genesys.api.SessionOutcome)
last: a session that has an outcome is complete. The store and OUT are local paths or
fsspec URLs (genesys.api.storage).

The transcript, session.jsonl, is appended and fsynced line by line, so a killed session
leaves what it did and spent. Object stores cannot append, so for a remote OUT the lines
go to a local copy (in the work dir, genesys.api.storage.work_dir) that is uploaded
whole before outcome.json, and also when the designer raises; a session killed outright
leaves its lines in the local copy only, which the next attempt on that machine continues.
Exit 0: a design; 1: the session failed (outcome.json says where); 2: bad input, nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from genesys.api import Design, ManifestError, dump_manifest, storage
from genesys.api.artifacts import CHECK_FILE, DESIGN_FILE, OUTCOME_FILE, RESULT_FILE, TRANSCRIPT_FILE, ArtifactLayout
from genesys.api.contract import ContractError
from genesys.api.results import CheckReport, VerificationResult
from genesys.api.session import DesignSessionJob, SessionOutcome, SessionSpend, SessionStage

# Wall-clock ratios swing with the machine's load (just over 3x was seen on a busy box); a
# session's verdict must not, or the same seed makes a different design. FLOPs and memory
# ratios (deterministic) keep their limits; time fails only when far off.
SESSION_TIME_LIMITS: dict[str, Any] = {"time_ratio": (1.5, 10.0), "abort_time_ratio": 20.0}


def session_check_config(scale: str) -> Any:
    """The checker configuration every designer's session uses at `scale` (designer.checkScale)."""
    from genesys.gau.checker import CheckConfig, quick_config

    return quick_config(**SESSION_TIME_LIMITS) if scale == "quick" else CheckConfig(**SESSION_TIME_LIMITS)


class SessionInputError(ValueError):
    """The job cannot run as given (a missing parent, a broken design in the store); nothing is written."""


@dataclass(frozen=True)
class SessionRequest:
    """What a designer works from: the new design's name, the operation, loaded parents and the population."""

    name: str
    evolution: str
    operation: str
    parents: list[Design]
    existing: list[Design]  # every design it must not duplicate (the store's and the library seeds)
    seed: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # parent -> rung -> fitness
    evolution_spent_usd: float = 0.0  # LLM spend of the evolution's other sessions (job.spec.spentUsd)
    prior: SessionSpend = field(default_factory=SessionSpend)  # what earlier, lost attempts of it spent


@dataclass(frozen=True)
class DesignerResult:
    design: Design | None
    report: CheckReport | None  # the last checked candidate's report
    stage: SessionStage | None  # where it stopped, when it failed
    reason: str | None
    attempts: int
    checked: int
    spend: SessionSpend


class Designer(Protocol):
    """Turns a request into a design; `record` appends one JSON-able line to the transcript."""

    def design(self, request: SessionRequest, record: Callable[[dict[str, Any]], None]) -> DesignerResult: ...


def designer_for(job: DesignSessionJob) -> Designer:
    """The designer the job's `designer.kind` names."""
    if job.spec.designer.kind == "gp":
        from genesys.agents.gp.designer import GPDesigner

        return GPDesigner(job.spec.designer)
    from genesys.agents.llm_designer import LLMDesigner  # the only path that imports litellm

    return LLMDesigner(job.spec.designer)


def _same_place(a: str, b: str) -> bool:
    if storage.is_local(a) and storage.is_local(b):
        return storage.local_path(a).resolve() == storage.local_path(b).resolve()
    return a.rstrip("/") == b.rstrip("/")


def load_request(job: DesignSessionJob, out: str | Path) -> SessionRequest:
    """Parents and existing designs from the store named by the job."""
    from genesys.api.seed_library import load_seed, seed_names

    layout = ArtifactLayout(root=job.spec.store, evolution=job.spec.evolution)
    designs_dir = layout.designs_dir()
    try:
        known = storage.children_with(designs_dir, DESIGN_FILE)
    except storage.StoreError as err:
        raise SessionInputError(f"spec.store: {err}") from None
    parents = []
    for name in job.spec.parents:
        if name not in known:
            hint = f"designs in the store: {', '.join(known)}" if known else f"{designs_dir} holds no designs yet"
            raise SessionInputError(f"parent {name!r} not found: no {layout.design_file(name)}; {hint}. Name designs "
                                    "of the store as parents, or check the store and the evolution's name")
        parents.append(storage.read_manifest(layout.design_file(name), Design))
    existing = [load_seed(s) for s in seed_names()]
    for name in known:
        if _same_place(layout.design_dir(name), str(out)):
            continue
        try:
            existing.append(storage.read_manifest(layout.design_file(name), Design))
        except ManifestError as err:
            raise SessionInputError(f"{err}\n(a design in the store is broken: fix or remove it)") from None
    return SessionRequest(job.metadata.name, job.spec.evolution, job.spec.operation, parents, existing, job.spec.seed,
                          scores=_scores(layout, set(job.spec.parents)), evolution_spent_usd=job.spec.spent_usd)


def _scores(layout: ArtifactLayout, designs: set[str]) -> dict[str, dict[str, float]]:
    """Fitness per rung of `designs`, from the store's succeeded verifications (the latest per rung)."""
    if not designs:
        return {}
    root = layout.verification_dir("").rstrip("/")
    scores: dict[str, dict[str, float]] = {}
    try:
        names = storage.children_with(root, RESULT_FILE)
    except storage.StoreError:
        return {}
    for name in sorted(names):
        try:
            result = VerificationResult.from_json(storage.read_text(layout.result_file(name)), name)
        except (ContractError, OSError, UnicodeDecodeError):
            continue  # a broken result is the runtime's to report, not the proposer's
        if result.design in designs and result.status == "succeeded" and result.fitness is not None:
            scores.setdefault(result.design, {})[result.rung] = result.fitness
    return scores


class Transcript:
    """session.jsonl: one JSON line per event, flushed and fsynced as it is written to `path`,
    a local file; `publish` copies it to `url` in the store when that is elsewhere."""

    def __init__(self, path: Path, url: str, attempt: int):
        self.path = path
        self.url = url
        self.attempt = attempt
        if not path.exists() and storage.exists(url):  # an earlier attempt, published from another machine
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(storage.read_bytes(url))

    def record(self, event: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"session_attempt": self.attempt, **event}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def spent(self) -> SessionSpend:
        """What the calls already in the transcript spent (earlier attempts of this session)."""
        spend = SessionSpend()
        if not self.path.exists():
            return spend
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if event.get("event") == "call":
                spend.usd += float(event.get("cost_usd") or 0.0)
                if not event.get("error"):
                    spend.llm_calls += 1
                    spend.tokens += int(event.get("tokens_in") or 0) + int(event.get("tokens_out") or 0)
        return spend

    def publish(self) -> None:
        storage.upload(self.path, self.url)


def run_job(job: DesignSessionJob, out: str | Path, designer: Designer | None = None) -> SessionOutcome:
    """Run one session and write its files into `out` (a path or store URL); raises SessionInputError
    before writing anything."""
    designer = designer or designer_for(job)
    out = str(out)
    request = load_request(job, out)
    for stale in (OUTCOME_FILE, DESIGN_FILE, CHECK_FILE):  # an earlier attempt's result, outcome first
        storage.remove(storage.join(out, stale))
    transcript = Transcript(storage.work_dir(out) / TRANSCRIPT_FILE, storage.join(out, TRANSCRIPT_FILE),
                            job.spec.attempt)
    request = dataclasses.replace(request, prior=transcript.spent())
    try:
        transcript.record({"event": "start", "design": request.name, "operation": request.operation,
                           "parents": [p.name for p in request.parents], "seed": request.seed})
        started = time.monotonic()
        result = designer.design(request, transcript.record)
        spend = result.spend.model_copy(update={"seconds": time.monotonic() - started})
        if result.report is not None:
            storage.write_text(storage.join(out, CHECK_FILE), result.report.to_json())
        if result.design is not None:
            storage.write_text(storage.join(out, DESIGN_FILE), dump_manifest(result.design))
            title = result.design.spec.proposal.title if result.design.spec.proposal else ""
            outcome = SessionOutcome(design=request.name, status="succeeded", title=title, attempts=result.attempts,
                                     checked=result.checked, spend=spend)
        else:
            outcome = SessionOutcome(design=request.name, status="failed", stage=result.stage or "check",
                                     reason=result.reason or "no candidate passed", attempts=result.attempts,
                                     checked=result.checked, spend=spend)
        transcript.record({"event": "outcome", **outcome.to_dict()})
    finally:
        transcript.publish()
    storage.write_text(storage.join(out, OUTCOME_FILE), outcome.to_json())
    return outcome


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genesys.agents.session", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--job", required=True, help="a DesignSessionJob manifest (a path or store URL)")
    ap.add_argument("--out", required=True, help="the design's directory in the artifact store (a path or URL)")
    args = ap.parse_args(argv)
    try:
        job = storage.read_manifest(args.job, DesignSessionJob)
        outcome = run_job(job, args.out)
    except (ManifestError, SessionInputError, storage.StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if outcome.status == "succeeded":
        print(f"passed after {outcome.checked} checked candidate(s): {outcome.title}")
        return 0
    print(f"failed ({outcome.stage}): {outcome.reason}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
