"""What the operator checks before it spawns anything for an Evolution.

    evolution = admit(body, others=["demo-2"])    # raises InvalidEvolution naming the field and the fix

The CRD's schema and CEL rules refuse most mistakes at `kubectl apply`; what they cannot
say (a seed not in the library, a rung override of the wrong type, names that would
collide with another Evolution's children) is refused here, with a `Ready=False`
condition and an Event, and nothing is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from genesys.api import Design, ManifestError, parse_manifest
from genesys.api.evolution import Evolution
from genesys.api.rungs import PresetError, ladder_rungs
from genesys.api.seed_library import SeedNotFoundError, load_seed, seed_names
from genesys.operator.names import conflicting_evolution

# Fields the API server adds to metadata that the Evolution model does not describe.
_META_KEPT = ("name", "namespace", "labels", "annotations", "uid")


class InvalidEvolution(ValueError):
    """The Evolution cannot run as written; the message names the field and the fix."""


def parse_evolution(body: Mapping[str, Any]) -> Evolution:
    """The Evolution as the core reads it (status and server-side metadata aside)."""
    meta = body.get("metadata") or {}
    data = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
            "metadata": {k: meta[k] for k in _META_KEPT if k in meta}, "spec": body.get("spec")}
    try:
        return parse_manifest(data, Evolution, f"Evolution {meta.get('name')}")
    except ManifestError as err:
        raise InvalidEvolution(str(err)) from None


def resolve_cluster_seeds(evolution: Evolution) -> list[Design]:
    """The seeds, which on a cluster come from the seed library (there is no file next to the manifest)."""
    seeds = []
    for ref in evolution.spec.seeds:
        try:
            seeds.append(load_seed(ref))
        except SeedNotFoundError:
            raise InvalidEvolution(
                f"spec.seeds: {ref!r} is not a seed of the library; a cluster Evolution names library seeds "
                f"({', '.join(seed_names())}); to start from your own design, add it to the library "
                f"(genesys.api seeds) or run it locally with `genesys run`") from None
    return seeds


def admit(body: Mapping[str, Any], others: Iterable[str] = ()) -> Evolution:
    """Parse and check an Evolution; raise InvalidEvolution with the field and the fix."""
    evolution = parse_evolution(body)
    resolve_cluster_seeds(evolution)
    try:
        ladder_rungs(evolution.spec.ladder)
    except PresetError as err:
        raise InvalidEvolution(str(err)) from None
    clash = conflicting_evolution(evolution.name, others)
    if clash is not None:
        raise InvalidEvolution(
            f"metadata.name: Evolution {evolution.name!r} and {clash!r} in one namespace could give their "
            f"children the same names; rename one (e.g. not a prefix of the other followed by '-')")
    return evolution
