"""CustomResourceDefinitions of genesys.dev, generated from the genesys.api models (their single source).

    python -m genesys.api.crdgen --out crds/manifests    # after changing a resource model; a test checks drift

Pydantic's JSON schema becomes a structural schema: `$ref`s inlined, `X | None` read as an
optional X (nullable only where null differs from absent), bounds in OpenAPI v3.0 form,
`dict[str, Any]` maps kept whole. Validators reach the API server as the CEL rules the models
carry; what CEL cannot say (a cycle in a tree, unit names as Python identifiers, rungs outside
their preset) the runtime finds when it loads the resource and reports as a Ready=False condition.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from genesys.api.budget import ScaleBudget
from genesys.api.common import GROUP, VERSION
from genesys.api.design import Design
from genesys.api.evolution import Evolution
from genesys.api.verification import VerificationJob

Schema = dict[str, Any]

# Keys of pydantic's JSON schema that mean nothing to Kubernetes or that it refuses.
_DROPPED = {"title", "const"}


class CRDError(ValueError):
    """A model has no structural schema; the message names the field and what to use instead."""


@dataclass(frozen=True)
class Column:
    """One column of `kubectl get`: a header and where its value is."""

    name: str
    path: str
    type: str = "string"


AGE = Column("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Resource:
    model: type[BaseModel]
    plural: str
    short_name: str
    columns: tuple[Column, ...]

    @property
    def kind(self) -> str:
        return self.model.__name__

    @property
    def filename(self) -> str:
        return f"{GROUP}_{self.plural}.yaml"


RESOURCES = (
    Resource(Evolution, "evolutions", "evo", (
        Column("Phase", ".status.phase"),
        Column("Designs", ".status.designs", "integer"),
        Column("Verified", ".status.verified", "integer"),
        Column("Best", ".status.bestDesign"),
        Column("Fitness", ".status.bestFitness", "number"),
        AGE,
    )),
    Resource(Design, "designs", "dsn", (
        Column("Phase", ".status.phase"),
        Column("Operation", ".spec.operation"),
        Column("Parents", ".spec.parents"),
        Column("Best-Rung", ".status.bestRung"),
        Column("Fitness", ".status.bestFitness", "number"),
        AGE,
    )),
    Resource(VerificationJob, "verificationjobs", "vj", (
        Column("Design", ".metadata.annotations['genesys.dev/design']"),  # spec.design is its file in the store
        Column("Rung", ".spec.rung"),
        Column("Phase", ".status.phase"),
        Column("Fitness", ".status.fitness", "number"),
        AGE,
    )),
    Resource(ScaleBudget, "scalebudgets", "sb", (
        Column("Rung", ".spec.rung"),
        Column("Used", ".status.runs.used", "integer"),
        Column("Running", ".status.runs.running", "integer"),
        Column("Released", ".status.runs.released", "integer"),
        Column("Total", ".status.runs.total", "integer"),
    )),
)


class _WithFactoryDefaults(GenerateJsonSchema):
    """Also emits the defaults of `default_factory` fields, which pydantic leaves out.

    A nested model defaults to `{}`: the API server then fills in its fields' own defaults,
    so each default is written once, where its field is.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = factory()  # type: ignore[call-arg]
        return {} if isinstance(value, BaseModel) else value


def _bound(node: Schema, key: str, inclusive: str) -> None:
    """JSON Schema's numeric `exclusiveMinimum: 0` as OpenAPI v3.0's `minimum: 0, exclusiveMinimum: true`."""
    if key in node and not isinstance(node[key], bool):
        node[inclusive] = node.pop(key)
        node[key] = True


def _unwrap_optional(node: Schema, where: str) -> tuple[Schema, bool]:
    """`anyOf: [X, null]` -> (X with the outer keys, whether null is a value of its own)."""
    branches = [b for b in node["anyOf"] if b != {"type": "null"}]
    if len(branches) != 1 or len(branches) == len(node["anyOf"]):
        raise CRDError(f"{where}: only `X | None` unions have a structural schema; use one type or a sub-model")
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    # With a default other than None, null is the user's choice (ladder.preset: null lists
    # rungs explicitly); otherwise it means absent, and the API server prunes it as such.
    meaningful = outer.get("default") is not None
    if "default" in outer and not meaningful:
        del outer["default"]
    return {**branches[0], **outer}, meaningful


def _inline_ref(node: Schema, defs: dict[str, Schema]) -> Schema:
    """A `$ref` replaced by its model's schema; the field's own keys and CEL rules join the model's."""
    if "$ref" not in node:
        return node
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
    rules = target.get("x-kubernetes-validations", []) + siblings.pop("x-kubernetes-validations", [])
    return {**target, **siblings, **({"x-kubernetes-validations": rules} if rules else {})}


def _kept(key: str, value: Any) -> bool:
    # `additionalProperties: true` (or `{}`) marks a free map, kept whole below; `false` is the default.
    free_or_closed = key == "additionalProperties" and (isinstance(value, bool) or value == {})
    return key not in _DROPPED and not free_or_closed and not (key == "required" and not value)


def _translate(key: str, value: Any, defs: dict[str, Schema], where: str) -> Any:
    if key == "properties":
        return {name: structural(sub, defs, f"{where}.{name}") for name, sub in value.items()}
    if key == "items":
        return structural(value, defs, f"{where}[]")
    if key == "additionalProperties":
        return structural(value, defs, f"{where}.*")
    return value


def structural(node: Schema, defs: dict[str, Schema], where: str = "") -> Schema:
    """One node of pydantic's schema as a structural one (see the module docstring)."""
    nullable = False
    if "anyOf" in node:
        node, nullable = _unwrap_optional(node, where)
    node = _inline_ref(node, defs)
    out = {key: _translate(key, value, defs, where) for key, value in node.items() if _kept(key, value)}
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        raise CRDError(f"{where or 'the root'}: no type; give the field a concrete type")
    _bound(out, "exclusiveMinimum", "minimum")
    _bound(out, "exclusiveMaximum", "maximum")
    if nullable:
        out["nullable"] = True
    return dict(sorted(out.items()))


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The openAPIV3Schema of one resource, with YAML (alias) field names."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_WithFactoryDefaults)
    defs = raw.pop("$defs", {})
    schema = structural(raw, defs)
    props = schema["properties"]
    # The API server owns these three; Kubernetes allows no more than their types here.
    props["apiVersion"] = {"description": "genesys.dev/v1alpha1", "type": "string"}
    props["kind"] = {"description": model.__name__, "type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    doc = sys.modules[model.__module__].__doc__ or ""
    schema["description"] = doc.strip().splitlines()[0] if doc.strip() else model.__name__
    return dict(sorted(schema.items()))


def crd(resource: Resource) -> Schema:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of one resource."""
    columns = [{"jsonPath": c.path, "name": c.name, "type": c.type} for c in resource.columns]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "categories": ["genesys"],
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "shortNames": [resource.short_name],
                "singular": resource.kind.lower(),
            },
            "scope": "Namespaced",
            "versions": [{
                "additionalPrinterColumns": columns,
                "name": VERSION,
                "schema": {"openAPIV3Schema": openapi_schema(resource.model)},
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
            }],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line descriptions as | blocks, so the CRDs read like the docstrings they come from."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = "# Generated from genesys.api by `python -m genesys.api.crdgen --out crds/manifests`; do not edit.\n"


def render(resource: Resource) -> str:
    return HEADER + yaml.dump(crd(resource), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def write_crds(out: Path) -> list[Path]:
    """Write one file per resource into `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for resource in RESOURCES:
        path = out / resource.filename
        path.write_text(render(resource), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genesys.api.crdgen", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("crds/manifests"),
                        help="folder to write <group>_<plural>.yaml into (default: crds/manifests)")
    args = parser.parse_args(argv)
    for path in write_crds(args.out):
        print(path)


if __name__ == "__main__":
    main()
