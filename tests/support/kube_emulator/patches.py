"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

The strategic merge patch is a merge patch that merges the lists Kubernetes merges by key
(containers by name, conditions by type, ownerReferences by uid, finalizers as a set, ...) and
honours the `$patch`, `$deleteFromPrimitiveList/...` and `$setElementOrder/...` directives, which
is what `kubectl apply`'s three-way patches of built-in kinds use.
"""

from __future__ import annotations

import copy
from typing import Any

from kube_emulator.errors import ApiError

# field name -> merge key of the lists a strategic merge patch merges instead of replacing
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip", "topologySpreadConstraints":
    "topologyKey", "resourceClaims": "name", "ports": "containerPort",
}
MERGED_PRIMITIVE_LISTS = {"finalizers"}


def unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise unprocessable(f"invalid JSON pointer {path!r}: it must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise unprocessable(f"jsonpatch: the path {path!r} does not exist in the object")
    return node


def _index(node: list[Any], part: str, path: str, adding: bool) -> int:
    if part == "-" and adding:
        return len(node)
    if not part.isdigit() or int(part) > len(node) or (int(part) == len(node) and not adding):
        raise unprocessable(f"jsonpatch: index {part!r} of {path!r} is out of range")
    return int(part)


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list):
        return node[_index(node, last, path, adding=False)]
    raise unprocessable(f"jsonpatch: the path {path!r} does not exist in the object")


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    node = _parent(doc, parts, path)
    if isinstance(node, dict) and parts and parts[-1] in node:
        return node.pop(parts[-1])
    if isinstance(node, list) and parts:
        return node.pop(_index(node, parts[-1], path, adding=False))
    raise unprocessable(f"jsonpatch: the path {path!r} to remove does not exist in the object")


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    node = _parent(doc, parts, path)
    if isinstance(node, dict):
        if replace and parts[-1] not in node:
            raise unprocessable(f"jsonpatch: the path {path!r} to replace does not exist in the object")
        node[parts[-1]] = value
    elif isinstance(node, list):
        index = _index(node, parts[-1], path, adding=not replace)
        if replace:
            node[index] = value
        else:
            node.insert(index, value)
    else:
        raise unprocessable(f"jsonpatch: the parent of {path!r} is neither an object nor a list")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 operations applied in order; a failed `test` is a 422, as kopf expects."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind in ("move", "copy"):
            value = _remove(doc, op["from"]) if kind == "move" else copy.deepcopy(_get(doc, op["from"]))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise unprocessable(f"the server rejected our request due to an error in our request: "
                                    f"testing value {path} failed: the value differs from {op.get('value')!r}")
        else:
            raise unprocessable(f"jsonpatch: unknown operation {kind!r}")
    return doc


def _merge_keyed_list(target: list[Any], patch: list[Any], key: str, item_schema: dict[str, Any] | None) -> list[Any]:
    if not all(isinstance(i, dict) and key in i for i in [*target, *patch]):
        return [_strip(i) for i in patch]  # not keyed after all: replace, as a merge patch would
    out = copy.deepcopy(target)
    for item in patch:
        where = next((n for n, cur in enumerate(out) if cur.get(key) == item[key]), None)
        directive = item.get("$patch")
        if directive == "delete":
            if where is not None:
                out.pop(where)
        elif where is None:
            out.append(_strip(item))
        elif directive == "replace":
            out[where] = _strip(item)
        else:
            out[where] = strategic_merge_patch(out[where], item, item_schema)
    return out


def _strip(value: Any) -> Any:
    """A patch value with its directives removed (what gets stored)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _list_strategy(key: str, schema: dict[str, Any] | None) -> tuple[str, str | None]:
    """How a strategic merge patch merges list `key`: ("merge", its key), ("union", None) or ("replace", None)."""
    if schema is None:  # no schema: the usual suspects
        if key in MERGED_PRIMITIVE_LISTS:
            return "union", None
        return ("merge", MERGE_KEYS[key]) if key in MERGE_KEYS else ("replace", None)
    if "merge" not in schema.get("x-kubernetes-patch-strategy", ""):
        return "replace", None
    merge_key = schema.get("x-kubernetes-patch-merge-key")
    return ("merge", merge_key) if merge_key else ("union", None)


def _child_schema(schema: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if schema is None:
        return None
    extra = schema.get("additionalProperties")
    return (schema.get("properties") or {}).get(key, extra if isinstance(extra, dict) else {})


def _patch_list(current: Any, value: list[Any], key: str, schema: dict[str, Any] | None) -> list[Any]:
    strategy, merge_key = _list_strategy(key, schema)
    if strategy == "union" and isinstance(current, list):
        return current + [v for v in value if v not in current]
    if strategy == "merge" and merge_key and isinstance(current, list):
        return _merge_keyed_list(current, value, merge_key, (schema or {}).get("items"))
    return [_strip(v) for v in value]


def strategic_merge_patch(target: Any, patch: Any, schema: dict[str, Any] | None = None) -> Any:
    """A strategic merge patch of the built-in kinds (see the module's docstring); `schema` says how lists merge."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _strip(patch)
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        sub = _child_schema(schema, key)
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            out[name] = [v for v in out.get(name) or [] if v not in value]
        elif key.startswith("$"):
            continue  # $setElementOrder/..., $retainKeys: ordering and pruning hints
        elif value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _patch_list(out.get(key), value, key, sub)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(out.get(key), value, sub)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = _strip(value)
    return out


def apply(target: dict[str, Any], patch_type: str, patch: Any, strategic: bool,
          schema: dict[str, Any] | None = None) -> Any:
    """`target` with a PATCH body of `patch_type` (the request's Content-Type) applied."""
    if patch_type == "application/json-patch+json":
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", f"a {patch_type} body must be a JSON object")
    if patch_type == "application/merge-patch+json":
        return merge_patch(target, patch)
    if patch_type == "application/strategic-merge-patch+json":
        if not strategic:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        return strategic_merge_patch(target, patch, schema)
    if patch_type == "application/apply-patch+yaml":  # server-side apply, approximated by a merge
        return strategic_merge_patch(target, patch, schema) if strategic else merge_patch(target, patch)
    raise ApiError(415, "UnsupportedMediaType", f"PATCH with Content-Type {patch_type!r} is not supported; use "
                   "application/merge-patch+json, application/json-patch+json, "
                   "application/strategic-merge-patch+json or application/apply-patch+yaml")
