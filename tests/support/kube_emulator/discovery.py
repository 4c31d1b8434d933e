"""Discovery: `/version`, `/api`, `/apis` (legacy and aggregated v2), group and version documents, OpenAPI v3.

The OpenAPI v3 documents are what `kubectl apply` needs with its default `--validate=strict`: a
PATCH operation per kind that lists the `fieldValidation` parameter, so kubectl leaves validation
to the server (which then gets `fieldValidation=Strict`). Custom resources carry their schemas
(for `kubectl explain`); built-in kinds carry none, so kubectl computes their apply patches from
its own compiled-in types.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kube_emulator.registry import SUBRESOURCE_VERBS, Registry, ResourceType

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
DEFAULT_VERSION = "1.31.4"


def version_info(version: str = DEFAULT_VERSION) -> dict[str, str]:
    """What /version says (kubectl's dispatcher picks its kubectl build by the minor version here)."""
    major, minor, _ = version.split(".", 2)
    return {"major": major, "minor": minor, "gitVersion": f"v{version}", "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2024-12-10T11:37:19Z", "goVersion": "go1.22.9", "compiler": "gc",
            "platform": "linux/amd64"}


def wants_aggregated(accept: str) -> bool:
    return "as=APIGroupDiscoveryList" in accept and "v=v2" in accept and "apidiscovery.k8s.io" in accept


def _api_resource(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                            "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    subs = [{"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced, "kind": rt.kind,
             "verbs": list(SUBRESOURCE_VERBS)} for sub in rt.subresources]
    return [main, *subs]


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList of /api/v1 or /apis/<group>/<version>; None if nothing is served there."""
    types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": [r for rt in sorted(types, key=lambda r: r.plural) for r in _api_resource(rt)]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def group_list(registry: Registry) -> dict[str, Any]:
    groups = registry.groups()
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in groups.items() if name]}


def group(registry: Registry, name: str) -> dict[str, Any] | None:
    versions = registry.groups().get(name)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)} if versions and name else None


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    out: dict[str, Any] = {"resource": rt.plural, "responseKind": kind, "scope": "Namespaced" if rt.namespaced
                           else "Cluster", "singularResource": rt.singular, "verbs": list(rt.verbs)}
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    if rt.subresources:
        out["subresources"] = [{"subresource": s, "responseKind": kind, "verbs": list(SUBRESOURCE_VERBS)}
                               for s in rt.subresources]
    return out


def aggregated(registry: Registry, core: bool) -> dict[str, Any]:
    """The APIGroupDiscoveryList of /api (core=True) or /apis (every other group), all in one document."""
    items = []
    for name, versions in registry.groups().items():
        if bool(name) == core:
            continue
        item_versions = []
        for version in versions:
            types = sorted((rt for rt in registry.all() if rt.group == name and rt.version == version),
                           key=lambda r: r.plural)
            item_versions.append({"version": version, "resources": [_aggregated_resource(rt) for rt in types],
                                  "freshness": "Current"})
        items.append({"metadata": {"name": name, "creationTimestamp": None}, "versions": item_versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_index(registry: Registry) -> dict[str, Any]:
    paths = {}
    for name, versions in registry.groups().items():
        for version in versions:
            path = _gv_path(name, version)
            digest = hashlib.sha256(json.dumps(openapi_document(registry, name, version),
                                               sort_keys=True).encode()).hexdigest()[:32].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def _definition_name(rt: ResourceType) -> str:
    if not rt.group:
        return f"io.k8s.api.core.v1.{rt.kind}"
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


_PARAMETERS = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
               for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def openapi_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group/version (None if nothing is served there)."""
    types = [rt for rt in registry.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        prefix = f"/{_gv_path(group, version)}" + ("/namespaces/{namespace}" if rt.namespaced else "")
        ref = {"$ref": f"#/components/schemas/{_definition_name(rt)}"}
        patch: dict[str, Any] = {"operationId": f"patch{rt.kind}", "parameters": _PARAMETERS,
                                 "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
                                 "responses": {"200": {"description": "OK"}}}
        if rt.crd is not None:
            patch["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in (
                "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")}}
            schemas[_definition_name(rt)] = {**(rt.schema or {"type": "object"}),
                                             "x-kubernetes-group-version-kind": [gvk]}
        for suffix in ("", *(f"/{s}" for s in rt.subresources)):
            paths[f"{prefix}/{rt.plural}/{{name}}{suffix}"] = {
                "get": {"operationId": f"read{rt.kind}", "x-kubernetes-action": "get",
                        "x-kubernetes-group-version-kind": gvk,
                        "responses": {"200": {"description": "OK", "content": {"application/json": {
                            "schema": ref}}}} if rt.crd else {"200": {"description": "OK"}}},
                "patch": patch,
                "put": {"operationId": f"replace{rt.kind}", "parameters": _PARAMETERS, "x-kubernetes-action": "put",
                        "x-kubernetes-group-version-kind": gvk, "responses": {"200": {"description": "OK"}}},
            }
        paths[f"{prefix}/{rt.plural}"] = {
            "post": {"operationId": f"create{rt.kind}", "parameters": _PARAMETERS, "x-kubernetes-action": "post",
                     "x-kubernetes-group-version-kind": gvk, "responses": {"201": {"description": "Created"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (emulated)", "version": "v1"},
            "paths": paths, "components": {"schemas": schemas}}
