"""The artifact store layout (DESIGN.md section 5) and reading results back from it.

    <store>/<evolution>/designs/<design>/design.yaml, check.json, session.jsonl (failed.json)
    <store>/<evolution>/verifications/<vj>/job.yaml, result.json, metrics.jsonl, checkpoints/

Children write their results atomically (temp file + rename), so a file that exists
is complete; a missing or malformed one is reported as such, never half-read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genesys.api import Design, ManifestError, VerificationJob, dump_manifest, load_manifest
from genesys.api.common import ObjectMeta
from genesys.api.verification import VerificationJobSpec


@dataclass(frozen=True)
class ArtifactStore:
    root: Path  # the store; this runtime supports local paths only
    evolution: str

    def design_dir(self, design: str) -> Path:
        return self.root / self.evolution / "designs" / design

    def design_file(self, design: str) -> Path:
        return self.design_dir(design) / "design.yaml"

    def verification_dir(self, name: str) -> Path:
        return self.root / self.evolution / "verifications" / name

    def write_design(self, design: Design) -> Path:
        path = self.design_file(design.name)
        write_atomic(path, dump_manifest(design))
        return path

    def write_job(self, name: str, design: str, rung: str, overrides: dict[str, Any], tasks: str, data: str,
                  seed: int, check: bool) -> Path:
        job = VerificationJob(
            metadata=ObjectMeta(name=name, labels={"genesys.dev/evolution": self.evolution}),
            spec=VerificationJobSpec(evolution=self.evolution, design=str(self.design_file(design)), rung=rung,
                                     overrides=overrides, tasks=tasks, data=data, seed=seed, check=check),
        )
        path = self.verification_dir(name) / "job.yaml"
        write_atomic(path, dump_manifest(job))
        return path


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class SessionOutcome:
    status: str  # "succeeded" | "failed" | "missing" (the session died before writing anything)
    title: str = ""
    reason: str | None = None


def read_session(store: ArtifactStore, name: str) -> SessionOutcome:
    directory = store.design_dir(name)
    if (directory / "design.yaml").exists():
        try:
            design = load_manifest(directory / "design.yaml", Design)
        except ManifestError as err:
            return SessionOutcome("failed", reason=f"the session wrote an invalid design: {err}")
        return SessionOutcome("succeeded", title=design.spec.proposal.title if design.spec.proposal else "")
    failed = directory / "failed.json"
    if failed.exists():
        try:
            reason = json.loads(failed.read_text(encoding="utf-8")).get("reason", "the session failed")
        except (json.JSONDecodeError, AttributeError):
            reason = "the session failed (failed.json is malformed)"
        return SessionOutcome("failed", reason=str(reason))
    return SessionOutcome("missing")


@dataclass(frozen=True)
class VerificationOutcome:
    status: str  # "succeeded" | "failed" | "interrupted" | "missing"
    reason: str | None = None
    fitness: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    device_seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)


def read_verification(store: ArtifactStore, name: str) -> VerificationOutcome:
    path = store.verification_dir(name) / "result.json"
    if not path.exists():
        return VerificationOutcome("missing")
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        status = result["status"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return VerificationOutcome("failed", reason=f"malformed result: {path} is not a verification result")
    if status == "interrupted":
        return VerificationOutcome("interrupted", reason=result.get("reason"))
    device_seconds = float(result.get("device_seconds") or result.get("train", {}).get("device_seconds") or 0.0)
    evaluation = result.get("evaluation") or {}
    device_seconds += float(evaluation.get("seconds") or 0.0)
    if status != "succeeded":
        return VerificationOutcome("failed", reason=f"{result.get('reason')}: {result.get('message', '')}",
                                   device_seconds=device_seconds)
    try:
        task_scores = evaluation["scores"]
        scores = {t: float(s["score"]) for t, s in task_scores.items()}
        baselines = {t: float(s["baseline"]) for t, s in task_scores.items() if s.get("baseline") is not None}
        fitness = float(result["fitness"])
    except (KeyError, TypeError, ValueError):
        return VerificationOutcome("failed", reason=f"malformed result: {path} has no scores or fitness",
                                   device_seconds=device_seconds)
    params = result.get("params") or {}
    summary = {
        "params": params.get("non_embedding"),
        "heldout_loss": result.get("heldout_loss"),
        "final_loss": result.get("final_loss"),
        "fitness_stderr": result.get("fitness_stderr"),
        "tokens": result.get("tokens"),
        "wall_seconds": result.get("wall_seconds"),
        # threads of the training process over time: e.g. [1, 2] when a neighbour finished
        "threads": [t for _, t in (result.get("train") or {}).get("thread_history") or []]
        or [(result.get("math") or {}).get("threads")],
    }
    return VerificationOutcome("succeeded", fitness=fitness, scores=scores, baselines=baselines,
                               device_seconds=device_seconds, summary=summary)
