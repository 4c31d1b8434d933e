"""Where everything lives in the artifact store, written once (DESIGN.md section 5).

    layout = ArtifactLayout(root="s3://bucket/runs", evolution="demo")
    layout.result_file("design-0003-cpu-1")   # s3://bucket/runs/demo/verifications/design-0003-cpu-1/result.json

    <root>/<evolution>/designs/<design>/design.yaml, check.json, outcome.json, session.jsonl, job.yaml
    <root>/<evolution>/verifications/<vj>/job.yaml, result.json, metrics.jsonl, checkpoints/

`root` is a local path or an fsspec URL; paths are joined with '/', so both work.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

EVOLUTION_FILE = "evolution.yaml"
DESIGN_FILE = "design.yaml"
CHECK_FILE = "check.json"
OUTCOME_FILE = "outcome.json"
TRANSCRIPT_FILE = "session.jsonl"
JOB_FILE = "job.yaml"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.jsonl"


class ArtifactLayout(BaseModel):
    model_config = ConfigDict(frozen=True)

    root: str
    evolution: str

    @field_validator("root")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        return v.rstrip("/") or "/"

    def _join(self, *parts: str) -> str:
        return "/".join((self.root if self.root != "/" else "", *parts))

    def evolution_file(self) -> str:
        """The Evolution manifest the run was started from (a record for people and tools)."""
        return self._join(self.evolution, EVOLUTION_FILE)

    def designs_dir(self) -> str:
        return self._join(self.evolution, "designs")

    def design_dir(self, design: str) -> str:
        return self._join(self.evolution, "designs", design)

    def design_file(self, design: str) -> str:
        return f"{self.design_dir(design)}/{DESIGN_FILE}"

    def check_file(self, design: str) -> str:
        return f"{self.design_dir(design)}/{CHECK_FILE}"

    def outcome_file(self, design: str) -> str:
        return f"{self.design_dir(design)}/{OUTCOME_FILE}"

    def transcript_file(self, design: str) -> str:
        return f"{self.design_dir(design)}/{TRANSCRIPT_FILE}"

    def session_job_file(self, design: str) -> str:
        return f"{self.design_dir(design)}/{JOB_FILE}"

    def verification_dir(self, name: str) -> str:
        return self._join(self.evolution, "verifications", name)

    def job_file(self, name: str) -> str:
        return f"{self.verification_dir(name)}/{JOB_FILE}"

    def result_file(self, name: str) -> str:
        return f"{self.verification_dir(name)}/{RESULT_FILE}"

    def metrics_file(self, name: str) -> str:
        return f"{self.verification_dir(name)}/{METRICS_FILE}"
