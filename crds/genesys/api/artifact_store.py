"""A runtime's side of the artifact store: write job manifests, read children's files back.

Both runtimes use it (`genesys.local` and `genesys.operator`): the files are the contract
between a runtime and the processes or pods it starts.

The store is a local directory or an fsspec URL (s3://...), read and written through
`genesys.api.storage`; paths come from `genesys.api.ArtifactLayout`; the files are
`genesys.api` models. Children write each file atomically, so a file that exists is
complete; a malformed one comes back as a `ContractError` for the core to settle
(genesys.evolution.outcomes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genesys.api import Design, ManifestError, VerificationJob, dump_manifest, storage
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
    root: str  # a local directory or an fsspec URL
    evolution: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", str(self.root))  # a Path names a local directory

    @property
    def layout(self) -> ArtifactLayout:
        return ArtifactLayout(root=self.root, evolution=self.evolution)

    def design_dir(self, design: str) -> str:
        return self.layout.design_dir(design)

    def design_file(self, design: str) -> str:
        return self.layout.design_file(design)

    def verification_dir(self, name: str) -> str:
        return self.layout.verification_dir(name)

    def write_design(self, design: Design) -> str:
        url = self.design_file(design.name)
        storage.write_text(url, dump_manifest(design))
        return url

    def read_design(self, design: str) -> Design | None:
        """The design's manifest; None when the store has none (raises ManifestError when it does not load)."""
        url = self.design_file(design)
        return storage.read_manifest(url, Design) if storage.exists(url) else None

    def write_verification_job(self, name: str, spec: VerificationJobSpec) -> str:
        job = VerificationJob(metadata=ObjectMeta(name=name, labels={EVOLUTION_LABEL: self.evolution}), spec=spec)
        url = self.layout.job_file(name)
        storage.write_text(url, dump_manifest(job))
        return url

    def write_session_job(self, name: str, operation: str, parents: tuple[str, ...], seed: int,
                          designer: DesignerSpec, attempt: int, spent_usd: float = 0.0) -> str:
        """job.yaml of a session; `spent_usd`: what the evolution's other sessions have spent on LLM calls."""
        spec = DesignSessionJobSpec.model_validate({
            "evolution": self.evolution, "operation": operation, "parents": list(parents), "seed": seed,
            "store": self.root, "designer": designer, "attempt": attempt, "spentUsd": spent_usd})
        job = DesignSessionJob(metadata=ObjectMeta(name=name, labels={EVOLUTION_LABEL: self.evolution}), spec=spec)
        url = self.layout.session_job_file(name)
        storage.write_text(url, dump_manifest(job))
        return url

    def read_check(self, design: str) -> CheckReport | None:
        """The check report the design's session left; None without one (seeds) or when malformed."""
        report = _read(self.layout.check_file(design), CheckReport)
        return report if isinstance(report, CheckReport) else None

    def checked(self, design: str) -> bool:
        """The design's session ran the checker on it and it passed (so verifying it need not again)."""
        report = self.read_check(design)
        return report is not None and report.passed

    def read_session(self, name: str) -> SessionOutcome | ContractError | None:
        """The session's outcome; a succeeded one whose design.yaml does not load is a ContractError."""
        outcome = _read(self.layout.outcome_file(name), SessionOutcome)
        if isinstance(outcome, SessionOutcome) and outcome.status == "succeeded":
            try:
                storage.read_manifest(self.design_file(name), Design)
            except ManifestError as err:
                return ContractError(f"the session wrote an invalid design: {err}")
        return outcome

    def read_verification(self, name: str) -> VerificationResult | ContractError | None:
        return _read(self.layout.result_file(name), VerificationResult)


def _read(url: str, model: Any) -> Any:
    """The model at `url`, None when there is no file, a ContractError when it does not parse."""
    try:
        text = storage.read_text(url)
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as err:
        return ContractError(f"{url}: not UTF-8 text ({err})")
    try:
        return model.from_json(text, url)
    except ContractError as err:
        return err
