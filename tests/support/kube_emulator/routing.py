"""Request paths as the API server reads them, verbs as RBAC names them, and request bodies decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml

from kube_emulator.errors import bad_request
from kube_emulator.registry import Registry


@dataclass(frozen=True)
class Route:
    """A resource request: /api/v1/namespaces/ns/pods/name/status -> ('', v1, pods, ns, name, status)."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str, registry: Registry) -> Route | str | None:
    """A Route for resource paths; a string naming a discovery document (`api`, `apis/g/v`); None otherwise."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        group, rest = "", parts[1:]
        if not rest:
            return "api"
        version, rest = rest[0], rest[1:]
    else:
        if len(parts) < 3:
            return "/".join(parts)
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return "/".join(parts)
    if rest[0] == "namespaces" and len(rest) >= 3:
        inner = registry.get(group, version, rest[2])
        if inner is not None and inner.namespaced:
            return _route(group, version, rest[2:], namespace=rest[1])
    return _route(group, version, rest, namespace=None)


def _route(group: str, version: str, rest: list[str], namespace: str | None) -> Route:
    plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, "/".join(rest[2:]) or None
    return Route(group, version, plural, namespace, name, sub)


def rbac_verb(method: str, route: Route, watch: bool) -> str:
    """The verb RBAC checks a request against (get, list, watch, create, update, patch, delete, deletecollection)."""
    if method in ("GET", "HEAD"):
        return "watch" if watch else ("get" if route.name else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(
        method, ("delete" if route.name else "deletecollection") if method == "DELETE" else method.lower())


class RequestRecord(NamedTuple):
    """One request, as `KubeEmulator.request_log` lists them; resource-less (discovery) requests have no group."""

    verb: str  # the RBAC verb, or the HTTP method in lowercase for non-resource paths
    group: str | None
    resource: str | None  # with the subresource: "verificationjobs/status"
    namespace: str | None
    name: str | None
    user_agent: str
    code: int
    path: str


def decode_body(body: bytes, content_type: str) -> Any:
    """A request body as JSON (YAML for server-side apply); a 400 saying what could not be read."""
    if not body:
        return None
    try:
        if "yaml" in content_type:
            return yaml.safe_load(body.decode())
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as err:
        raise bad_request(f"the request body could not be decoded as {content_type or 'JSON'}: {err}") from err


def is_watch(query: dict[str, str]) -> bool:
    return query.get("watch", "").lower() in ("true", "1")
