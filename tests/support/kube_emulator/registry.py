"""The resource types the emulated server serves: built-in kinds and those CRDs add at runtime.

A `ResourceType` is one served group/version/plural. Objects are stored per group and plural
(`storage_key`), so a CRD serving several versions keeps one set of objects for all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kube_emulator.errors import FieldError

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass
class Hooks:
    """Per-kind behaviour: defaults on create/update, a status reset on create, extra validation."""

    on_create: Callable[[dict[str, Any]], None] | None = None
    on_update: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    validate: Callable[[dict[str, Any], dict[str, Any] | None], list[FieldError]] | None = None


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()  # "status" (others are not served)
    generation: bool = False  # metadata.generation is kept (bumped on spec changes)
    name_rule: str = "subdomain"  # subdomain | label | label1035 | path
    schema: dict[str, Any] | None = None  # a CRD version's openAPIV3Schema
    printer_columns: list[dict[str, Any]] | None = None  # a CRD version's additionalPrinterColumns
    crd: str | None = None  # the name of the CRD that serves it
    storage: bool = True
    default_propagation: str = "Background"
    hooks: Hooks = field(default_factory=Hooks)
    # served from another resource's storage (events.k8s.io Events are core Events), converted both ways
    stored_as: tuple[str, str] | None = None
    to_storage: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    from_storage: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    virtual: bool = False  # create-only and never stored (access reviews)

    def __post_init__(self) -> None:
        self.singular = self.singular or self.kind.lower()

    @property
    def storage_key(self) -> tuple[str, str]:
        return self.stored_as or (self.group, self.plural)

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def status_subresource(self) -> bool:
        return "status" in self.subresources

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


class Registry:
    """Lookups of the served resource types by group/version/plural, by group/plural and by name."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self.generation = 0  # bumped on every change (discovery and openapi hashes follow it)
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt
        self.generation += 1

    def remove_crd(self, crd_name: str) -> list[ResourceType]:
        gone = [rt for rt in self._types.values() if rt.crd == crd_name]
        for rt in gone:
            del self._types[(rt.group, rt.version, rt.plural)]
        self.generation += 1
        return gone

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def storage(self, group: str, plural: str) -> ResourceType | None:
        """The storage version's type of a group/plural (any served version if none is marked)."""
        found = [rt for rt in self._types.values() if rt.key == (group, plural)]
        return next((rt for rt in found if rt.storage), found[0] if found else None)

    def groups(self) -> dict[str, list[str]]:
        """Group -> served versions, the preferred (storage) version first."""
        out: dict[str, list[str]] = {}
        for rt in sorted(self._types.values(), key=lambda r: (not r.storage, r.version)):
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def find(self, what: str) -> ResourceType:
        """A type by kind, plural, singular, short name, `plural.group` or `Kind.group` (case-insensitive)."""
        wanted = what.lower()
        group = None
        if "." in wanted:
            wanted, group = wanted.split(".", 1)
        matches = [
            rt for rt in self._types.values()
            if (group is None or rt.group == group) and rt is self.storage(rt.group, rt.plural)
            and wanted in (rt.plural, rt.singular, rt.kind.lower(), *rt.short_names)
        ]
        if not matches:
            names = sorted({n for rt in self._types.values() for n in (rt.kind, rt.plural, *rt.short_names)})
            near = difflib.get_close_matches(what, names, n=3)
            hint = f"did you mean {', '.join(near)}?" if near else \
                f"served kinds: {', '.join(sorted({rt.kind for rt in self._types.values()}))}"
            raise KeyError(f"no resource type {what!r} is served (is its CRD applied?); {hint}")
        core = [rt for rt in matches if rt.group == ""]  # `events` means core v1 events, as in kubectl
        return (core or matches)[0]


def crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (one per served version)."""
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys() & {"status"}))
        out.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"], kind=names["kind"],
            singular=names.get("singular", ""), namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subresources, generation=True,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=version.get("additionalPrinterColumns"),
            crd=crd["metadata"]["name"], storage=bool(version.get("storage", True)),
        ))
    return out
