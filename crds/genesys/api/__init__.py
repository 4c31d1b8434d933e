"""genesys.api: the typed resources of genesys.dev/v1alpha1 (single source of the CRDs).

No torch, kopf, litellm, lm_eval or weaviate here: every component imports this.
"""

from genesys.api.budget import ScaleBudget, ScaleBudgetSpec, ScaleBudgetStatus
from genesys.api.common import API_VERSION, GROUP, VERSION, Condition, ObjectMeta
from genesys.api.design import Design, DesignSpec, DesignStatus, DesignTree, Proposal, UnitSpec
from genesys.api.evolution import LADDER_PRESETS, Evolution, EvolutionSpec, EvolutionStatus
from genesys.api.manifest import ManifestError, dump_manifest, load_manifest, loads_manifest, parse_manifest
from genesys.api.verification import VerificationJob, VerificationJobSpec, VerificationJobStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "LADDER_PRESETS",
    "VERSION",
    "Condition",
    "Design",
    "DesignSpec",
    "DesignStatus",
    "DesignTree",
    "Evolution",
    "EvolutionSpec",
    "EvolutionStatus",
    "ManifestError",
    "ObjectMeta",
    "Proposal",
    "ScaleBudget",
    "ScaleBudgetSpec",
    "ScaleBudgetStatus",
    "UnitSpec",
    "VerificationJob",
    "VerificationJobSpec",
    "VerificationJobStatus",
    "dump_manifest",
    "load_manifest",
    "loads_manifest",
    "parse_manifest",
]
