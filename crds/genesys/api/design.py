"""The Design resource: an LM block written as a tree of units (DESIGN.md section 3).

A design file IS a Design custom resource: the same YAML is written by the agents,
validated by `genesys check`, built by the trainer and accepted by `kubectl apply`.
"""

from __future__ import annotations

import keyword
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from genesys.api.common import API_VERSION, Conditions, ObjectMeta, Strict
from genesys.api.vocabulary import DesignFailure, DesignPhase, Operation


def _check_unit_name(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(
            f"unit name {name!r} must be a Python class name (letters, digits, '_'; e.g. 'GatedMLP')"
        )
    return name


class Proposal(Strict):
    """What the design changes and why, as its proposer wrote it."""

    title: str
    abstract: str = ""
    body: str = ""
    rating: float | None = Field(default=None, ge=0, le=5)


class UnitSpec(Strict):
    """One node of the tree: the unit's source code, its children, its hyper-parameters.

    Empty `code` means declared but not implemented yet: the unit is built as an
    identity placeholder, which is how designs are implemented unit by unit.
    """

    children: list[str] = Field(default_factory=list)
    code: str = ""
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("children")
    @classmethod
    def _child_names(cls, v: list[str]) -> list[str]:
        for name in v:
            _check_unit_name(name)
        if len(set(v)) != len(v):
            raise ValueError(f"children lists a unit twice: {v}")
        return v


class DesignTree(Strict):
    """The units of a block, keyed by class name, and which of them is the block."""

    # The API server checks what CEL can say; cycles it cannot, so the runtime reports them.
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.root in self.units", "message": "tree.root must name one of tree.units"},
    ]})

    root: str
    units: dict[str, UnitSpec]

    @field_validator("units")
    @classmethod
    def _unit_names(cls, v: dict[str, UnitSpec]) -> dict[str, UnitSpec]:
        for name in v:
            _check_unit_name(name)
        return v

    @model_validator(mode="after")
    def _root_and_cycles(self) -> DesignTree:
        if self.root not in self.units:
            raise ValueError(
                f"root {self.root!r} is not one of the units ({', '.join(sorted(self.units))}); "
                "name the block unit in tree.root"
            )
        # Children without an entry are declared-but-unimplemented placeholders: allowed.
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 1:
                raise ValueError(f"the tree has a cycle: {' -> '.join(path + [name])}")
            if state.get(name) == 2 or name not in self.units:
                return
            state[name] = 1
            for child in self.units[name].children:
                visit(child, path + [name])
            state[name] = 2

        visit(self.root, [])
        return self

    def reachable(self) -> list[str]:
        """Unit names reachable from the root, children before parents."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            for child in self.units[name].children if name in self.units else []:
                visit(child)
            order.append(name)

        visit(self.root)
        return order


def _tree_set_once(schema: dict[str, Any]) -> None:
    """The CRD's view of spec.tree: absent while the design's session runs, then fixed.

    In a cluster the Design exists from the start of its session and the session's
    result fills spec.tree in. Python reads only finished designs (seeds, design.yaml,
    `genesys check`, the trainer), and a dozen modules read `spec.tree`, so the model
    keeps it required; only the generated CRD lets it be absent.
    """
    schema["required"].remove("tree")
    schema["x-kubernetes-validations"] = [
        {"rule": "!has(oldSelf.tree) || has(self.tree)", "message": "spec.tree cannot be removed once set"},
    ]


Semantics = Literal["genesys-lm", "genesys"]

# What every unit constructor receives by name; a design-level kwarg with one of these
# names would be passed twice.
RESERVED_KWARGS = ("embed_dim", "block_loc", "kwarg_all", "device", "dtype")


def _immutable(field: str) -> dict[str, Any]:
    # What the LM is built from: changed, it is a different design and its fitness no longer its own.
    return {"rule": "self == oldSelf", "message": f"spec.{field} is immutable: create a new Design instead"}


class DesignSpec(Strict):
    model_config = ConfigDict(json_schema_extra=_tree_set_once)

    evolution: str | None = None  # owning Evolution; absent for a loose file
    parents: list[str] = Field(default_factory=list)
    operation: Operation = "seed"
    proposal: Proposal | None = None
    tree: DesignTree = Field(json_schema_extra={"x-kubernetes-validations": [_immutable("tree")]})
    semantics: Semantics = Field(
        default="genesys-lm",
        description=(
            "how the units run. genesys-lm: a `**Z` parameter of `_forward` receives all of Z, all blocks "
            "share one kwarg_all, every Linear gets GPT-2 init and then each unit's `_init_weights`. "
            "genesys (as the Genesys code runs designs): `_forward` receives only the Z entries its "
            "parameters name, each block gets its own copy of kwarg_all, units keep their own init"
        ),
        json_schema_extra={"x-kubernetes-validations": [_immutable("semantics")]},
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        max_length=256,  # bounds the CEL rule's cost estimate, which the API server checks
        description=(
            "the design's merged unit args (Genesys's gab_config): every block's kwarg_all starts from "
            "these, so every unit receives them as keyword arguments; a unit's own args take precedence"
        ),
        json_schema_extra={"x-kubernetes-validations": [
            _immutable("kwargs"),
            {"rule": "self.all(k, !(k in " + str(list(RESERVED_KWARGS)) + "))",
             "message": "spec.kwargs cannot set " + ", ".join(RESERVED_KWARGS) + ": every unit receives them already"},
        ]},
    )

    @model_serializer(mode="wrap")
    def _default_semantics_unwritten(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Manifests of genesys-lm designs read as they did before the field existed.
        data: dict[str, Any] = handler(self)
        if data.get("semantics") == "genesys-lm":
            del data["semantics"]
        return data

    @field_validator("kwargs")
    @classmethod
    def _kwarg_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(
                    f"kwargs key {name!r} must be a Python identifier: units receive it as a keyword argument"
                )
            if name in RESERVED_KWARGS:
                raise ValueError(
                    f"kwargs cannot set {name!r}: every unit receives {', '.join(RESERVED_KWARGS)} already; "
                    "remove it"
                )
        return v


class DesignStatus(Strict):
    """What `kubectl get designs` and the views show; written by the runtime, never by users."""

    phase: DesignPhase | None = None
    fitness: dict[str, float] = Field(default_factory=dict, description="rung -> fitness of its verification there")
    best_rung: str | None = Field(default=None, alias="bestRung", description="the highest rung verified at")
    best_fitness: float | None = Field(default=None, alias="bestFitness", description="fitness at bestRung")
    rating: float | None = Field(
        default=None, description="the evolution's rank rating (Massey; 0 is its group's average); unset while unrated"
    )
    order: int | None = Field(default=None, ge=0, description="creation order in its evolution; seeds first")
    session_seed: int | None = Field(default=None, alias="sessionSeed", description="random seed of its session")
    session_attempts: int = Field(default=0, ge=0, alias="sessionAttempts",
                                  description="starts of its session so far; a lost session is started again")
    session_usd: float | None = Field(default=None, ge=0, alias="sessionUsd",
                                      description="what its design session spent on LLM calls, in US dollars")
    reason: str | None = Field(default=None, description="why it is in this phase, in one line (e.g. why it failed)")
    failure: DesignFailure | None = Field(default=None, description="a Failed design's session or verification failed")
    conditions: Conditions = Field(default_factory=list)


class Design(Strict):
    api_version: Literal["genesys.dev/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["Design"] = "Design"
    metadata: ObjectMeta
    spec: DesignSpec
    status: DesignStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name
