"""The local runtime's side of the artifact store: write job manifests, read children's files back.

Paths come from `genesys.api.ArtifactLayout`; the files are `genesys.api` models. Children
write atomically (temp file + rename), so a file that exists is complete; a malformed one
comes back as a `ContractError` for the core to settle (genesys.evolution.outcomes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesys.api import Design, ManifestError, VerificationJob, dump_manifest, load_manifest
from genesys.api.artifacts import ArtifactLayout
from genesys.api.common import ObjectMeta
from genesys.api.contract import ContractError
from genesys.api.evolution import DesignerSpec
from genesys.api.results import CheckReport, VerificationResult
from genesys.api.session import DesignSessionJob, DesignSessionJobSpec, SessionOutcome
from genesys.api.verification import VerificationJobSpec

EVOLUTION_LABEL = "genesys.dev/evolution"


@dataclass(frozen=True)
class ArtifactStore:
    root: Path
    evolution: str

    @property
    def layout(self) -> ArtifactLayout:
        return ArtifactLayout(root=str(self.root), evolution=self.evolution)

    def design_dir(self, design: str) -> Path:
        return Path(self.layout.design_dir(design))

    def design_file(self, design: str) -> Path:
        return Path(self.layout.design_file(design))

    def verification_dir(self, name: str) -> Path:
        return Path(self.layout.verification_dir(name))

    def write_design(self, design: Design) -> Path:
        path = self.design_file(design.name)
        write_atomic(path, dump_manifest(design))
        return path

    def write_verification_job(self, name: str, spec: VerificationJobSpec) -> Path:
        job = VerificationJob(metadata=ObjectMeta(name=name, labels={EVOLUTION_LABEL: self.evolution}), spec=spec)
        path = Path(self.layout.job_file(name))
        write_atomic(path, dump_manifest(job))
        return path

    def write_session_job(self, name: str, operation: str, parents: tuple[str, ...], seed: int,
                          designer: DesignerSpec, attempt: int) -> Path:
        spec = DesignSessionJobSpec.model_validate({
            "evolution": self.evolution, "operation": operation, "parents": list(parents), "seed": seed,
            "store": str(self.root), "designer": designer, "attempt": attempt})
        job = DesignSessionJob(metadata=ObjectMeta(name=name, labels={EVOLUTION_LABEL: self.evolution}), spec=spec)
        path = Path(self.layout.session_job_file(name))
        write_atomic(path, dump_manifest(job))
        return path

    def read_check(self, design: str) -> CheckReport | None:
        """The check report the design's session left; None without one (seeds) or when malformed."""
        report = _read(Path(self.layout.check_file(design)), CheckReport)
        return report if isinstance(report, CheckReport) else None

    def checked(self, design: str) -> bool:
        """The design's session ran the checker on it and it passed (so verifying it need not again)."""
        report = self.read_check(design)
        return report is not None and report.passed

    def read_session(self, name: str) -> SessionOutcome | ContractError | None:
        """The session's outcome; a succeeded one whose design.yaml does not load is a ContractError."""
        outcome = _read(Path(self.layout.outcome_file(name)), SessionOutcome)
        if isinstance(outcome, SessionOutcome) and outcome.status == "succeeded":
            try:
                load_manifest(self.design_file(name), Design)
            except ManifestError as err:
                return ContractError(f"the session wrote an invalid design: {err}")
        return outcome

    def read_verification(self, name: str) -> VerificationResult | ContractError | None:
        return _read(Path(self.layout.result_file(name)), VerificationResult)


def _read(path: Path, model: Any) -> Any:
    """The model in `path`, None when there is no file, a ContractError when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return model.from_json(text, str(path))
    except ContractError as err:
        return err


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
