"""What a started action runs with: the job specs both runtimes hand to their children.

    spec = verification_job_spec(evolution, action, design_ref, checked=True, attempt=1)

A pod and a local subprocess get the same job for the same action: the rung's
overrides (ladder-wide, then the rung's own), the training seed (spec.seed + repeat
for calibration runs) and whether the checker must run first.
"""

from __future__ import annotations

from genesys.api.evolution import Evolution, EvolutionSpec
from genesys.api.rungs import ladder_overrides
from genesys.api.verification import VerificationJobSpec
from genesys.evolution.state import StartVerification


def training_seed(spec: EvolutionSpec, repeat: int) -> int:
    """The training seed of a verification: repeat k > 0 (a calibration run) trains with seed + k."""
    return spec.seed + repeat


def verification_job_spec(evolution: Evolution, action: StartVerification, design_ref: str, *, checked: bool,
                          attempt: int) -> VerificationJobSpec:
    """The job of `action`; `design_ref` is where the child finds the design (a store path or URL).
    `checked`: the design's session already passed it through the checker, so the job skips it."""
    spec = evolution.spec
    return VerificationJobSpec(
        evolution=evolution.name, design=design_ref, rung=action.rung,
        overrides=ladder_overrides(spec.ladder, action.rung), tasks=spec.evaluation.tasks, data=spec.data.source,
        seed=training_seed(spec, action.repeat), check=not checked, attempt=attempt)
