"""The seed designs as shipped Design manifests, so a runtime without torch can start an Evolution.

    seed_names()                                   # ['gpt2', 'mamba2', 'retnet', 'rwkv6', 'ttt']
    design = load_seed("gpt2")
    designs = resolve_seeds(evolution, Path("examples"))   # spec.seeds: seed names or Design files

`seeds/<name>.yaml` are written from the unit library (genesys.gau.seeds) by
EXPORT_COMMAND; tests/api/test_seed_library.py fails when they drift from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from genesys.api.design import Design
from genesys.api.evolution import Evolution
from genesys.api.manifest import ManifestError, load_manifest, loads_manifest
from genesys.api.naming import suggest

EXPORT_COMMAND = "genesys library export crds/genesys/api/seeds"
MANIFEST_SUFFIXES = (".yaml", ".yml")


class SeedNotFoundError(KeyError):
    """No seed design of that name; the message suggests the nearest and lists them all."""

    def __init__(self, name: str, known: Iterable[str]):
        known = sorted(known)
        hint = suggest(name, known)
        if not hint.startswith("known:"):  # a suggestion alone hides the other seeds
            hint += f" (seeds: {', '.join(known)})"
        super().__init__(f"no seed design named {name!r}; {hint}")

    def __str__(self) -> str:  # KeyError's own would wrap the message in quotes
        return str(self.args[0])


class SeedError(ValueError):
    """`spec.seeds` names no seed, or a file that is not a Design; the message says what to give instead."""


@cache
def _manifests() -> dict[str, str]:
    """Seed name -> manifest text, as shipped in the package."""
    found = {}
    for entry in resources.files("genesys.api").joinpath("seeds").iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name.removesuffix(".yaml")] = entry.read_text(encoding="utf-8")
    return dict(sorted(found.items()))


def seed_names() -> list[str]:
    return list(_manifests())


def load_seed(name: str) -> Design:
    """A fresh Design of the library seed `name` (callers may change it)."""
    manifests = _manifests()
    if name not in manifests:
        raise SeedNotFoundError(name, manifests)
    return loads_manifest(manifests[name], Design, f"genesys.api seeds/{name}.yaml")


def _resolve(ref: str, base_dir: Path) -> Design:
    if not ref.endswith(MANIFEST_SUFFIXES):
        try:
            return load_seed(ref)
        except SeedNotFoundError as err:
            raise SeedError(f"spec.seeds: {err}") from None
    path = base_dir / ref  # an absolute ref stays as it is
    if not path.is_file():
        raise SeedError(f"spec.seeds: {path} does not exist; give a library seed name "
                        f"({', '.join(seed_names())}) or a Design manifest file")
    try:
        return load_manifest(path, Design)
    except ManifestError as err:
        raise SeedError(f"spec.seeds: {err}") from None


def resolve_seeds(evolution: Evolution, base_dir: Path) -> list[Design]:
    """The designs `spec.seeds` names, in its order: library seeds, or Design files relative to `base_dir`.

    Raises SeedError (`spec.seeds: ...`, naming the fix) for an unknown name, a missing or
    invalid file, or two seeds with one design name (they would share one place in the population).
    """
    designs = [_resolve(ref, base_dir) for ref in evolution.spec.seeds]
    names = [d.name for d in designs]
    shared = sorted({n for n in names if names.count(n) > 1})
    if shared:
        raise SeedError(f"spec.seeds: more than one seed is named {', '.join(shared)} ({', '.join(names)}); "
                        "rename the Design in one of the files")
    return designs
