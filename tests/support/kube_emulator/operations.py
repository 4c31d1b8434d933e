"""The API server's semantics, independent of HTTP: create, update, patch, delete, get, list.

Metadata is kept as a real server keeps it (uid, resourceVersion, generation bumped on spec
changes only, creationTimestamp, deletionTimestamp with finalizers), `/status` is a subresource for
the kinds that have one (status written through the main resource is ignored, and everything but
status written through `/status` is ignored), and objects are admitted as `admission` describes.
A write that changes nothing is not a write: no new resourceVersion, no watch event.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kube_emulator import errors, patches
from kube_emulator.admission import admit, builtin_schema
from kube_emulator.crds import crd_status
from kube_emulator.errors import ApiError, FieldError
from kube_emulator.registry import Registry, ResourceType, crd_types
from kube_emulator.selectors import Requirement, labels_match
from kube_emulator.store import Store, Write, snapshot

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES_KEY = ("", "namespaces")
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"
OBJECT_LIMIT = 1_572_864  # etcd's request limit: 1.5 MiB
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
_UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class Context:
    """Who is asking, and how: user agent, `fieldValidation` (Strict, Warn, Ignore), `dryRun`."""

    user_agent: str = ""
    field_validation: str = "Warn"
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(obj: dict[str, Any], status_subresource: bool) -> dict[str, Any]:
    """What metadata.generation follows: everything but metadata (and status, when it is a subresource)."""
    skip = {"metadata", "status"} if status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


class Operations:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.wake_collector: Callable[[], None] = lambda: None


    def view(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object as served at `rt`'s version (stored objects carry the storage version)."""
        if rt.from_storage is not None:
            return rt.from_storage(obj)
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    def _stored(self, rt: ResourceType, body: Any) -> tuple[ResourceType, Any]:
        """The type and body a write through `rt` is made as (another resource's, when `rt` converts)."""
        if rt.to_storage is None or not isinstance(body, dict):
            return rt, body
        typed = copy.deepcopy(body)
        self._check_type(rt, typed)
        return self.registry.storage(*rt.storage_key) or rt, rt.to_storage(typed)

    def _review(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        """An access review: every request is allowed (RBAC is not enforced here, only recorded)."""
        review = copy.deepcopy(body) if isinstance(body, dict) else {}
        self._check_type(rt, review)
        review["status"] = {"allowed": True, "reason": "the emulated API server does not enforce RBAC"}
        return review

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.storage_key, namespace if rt.namespaced else None, name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None, labels: list[Requirement] | None = None,
             fields: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        items = self.store.items(rt.storage_key, namespace if rt.namespaced else None)
        return [self.view(rt, o) for o in items
                if (not labels or labels_match(labels, o)) and (fields is None or fields(o))]


    def create(self, rt: ResourceType, namespace: str | None, body: Any, ctx: Context,
               verb: str = "create") -> dict[str, Any]:
        if rt.virtual:
            return self._review(rt, body)
        if rt.to_storage is not None:
            stored_rt, stored = self._stored(rt, body)
            return self.view(rt, self.create(stored_rt, namespace, stored, ctx, verb))
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of a create must be a {rt.kind} object")
        obj = copy.deepcopy(body)
        self._check_type(rt, obj)
        meta = self._new_metadata(rt, namespace, obj)
        if rt.status_subresource:
            obj.pop("status", None)
        if rt.hooks.on_create:
            rt.hooks.on_create(obj)
        if rt.storage_key == CRD_KEY:
            meta["finalizers"] = list(dict.fromkeys([*(meta.get("finalizers") or []), CRD_CLEANUP]))
        obj = self._admit(rt, obj, None, ctx)
        if rt.storage_key == CRD_KEY:
            obj["status"] = crd_status(obj, meta["creationTimestamp"])
        return self.commit(rt, obj, None, ctx, verb, rt.plural)

    def _new_metadata(self, rt: ResourceType, namespace: str | None, obj: dict[str, Any]) -> dict[str, Any]:
        """A new object's metadata: placed, named (generateName), unique, with the server's fields set."""
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        namespace = self._place(rt, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
        name = meta.get("name") or ""
        if name and self.store.get(rt.storage_key, namespace, name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        for key in (*_SYSTEM_META, "resourceVersion", "selfLink", "managedFields"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.generation:
            meta["generation"] = 1
        return meta

    def update(self, rt: ResourceType, namespace: str | None, name: str, body: Any, ctx: Context,
               subresource: str | None = None) -> dict[str, Any]:
        if rt.to_storage is not None:
            stored_rt, stored = self._stored(rt, body)
            return self.view(rt, self.update(stored_rt, namespace, name, stored, ctx, subresource))
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of an update must be a {rt.kind} object")
        old = self.get(rt, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the "
                                     f"URL ({name})")
        if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        self._check_type(rt, body)
        return self._update(rt, old, copy.deepcopy(body), ctx, "update", subresource)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, patch_type: str, patch: Any,
              ctx: Context, subresource: str | None = None) -> dict[str, Any]:
        existing = self.store.get(rt.storage_key, namespace if rt.namespaced else None, name)
        if existing is None:
            if patch_type == "application/apply-patch+yaml" and subresource is None and isinstance(patch, dict):
                body = {**patch, "metadata": {**(patch.get("metadata") or {}), "name": name}}
                return self.create(rt, namespace, body, ctx, verb="patch")
            raise errors.not_found(rt.plural, rt.group, name)
        patched = patches.apply(self.view(rt, existing), patch_type, patch, strategic=rt.crd is None,
                                schema=builtin_schema(rt) if rt.crd is None else None)
        if not isinstance(patched, dict):
            raise patches.unprocessable("the patch does not leave an object")
        self._check_type(rt, patched)
        stored_rt, stored = self._stored(rt, patched)
        return self.view(rt, self._update(stored_rt, existing, stored, ctx, "patch", subresource))

    def delete(self, rt: ResourceType, namespace: str | None, name: str, options: dict[str, Any],
               ctx: Context) -> dict[str, Any]:
        obj = self.get(rt, namespace, name)
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: "
                                  f"{pre['uid']}, UID in object meta: {meta['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name, f"Precondition failed: ResourceVersion in "
                                  f"precondition: {pre['resourceVersion']}, ResourceVersion in object meta: "
                                  f"{meta['resourceVersion']}")
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy is None and rt.default_propagation == "Orphan":
            ctx.warnings.append("child pods are preserved by default when jobs are deleted; set propagationPolicy="
                                "Background to remove them or set propagationPolicy=Orphan to suppress this warning")
        if rt.storage_key == NAMESPACES_KEY and name in _UNDELETABLE_NAMESPACES:
            raise errors.forbidden(rt.plural, rt.group, name, "this namespace may not be deleted")
        if ctx.dry_run:
            return self.view(rt, obj)
        return self.delete_object(rt, obj, policy or rt.default_propagation, ctx)


    def delete_object(self, rt: ResourceType, obj: dict[str, Any], policy: str, ctx: Context) -> dict[str, Any]:
        """Delete now, or mark for deletion when finalizers (or dependents, in the foreground) hold it."""
        meta = obj["metadata"]
        if policy == "Orphan":
            self.orphan_dependents(meta["uid"], ctx)
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append("foregroundDeletion")
        terminating_namespace = rt.storage_key == NAMESPACES_KEY
        if finalizers or terminating_namespace:
            if meta.get("deletionTimestamp"):
                return self.view(rt, obj)
            new = snapshot(obj)
            new["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0, finalizers=finalizers)
            if not finalizers:
                del new["metadata"]["finalizers"]
            if rt.generation:
                new["metadata"]["generation"] = meta.get("generation", 0) + 1
            if terminating_namespace:
                new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
            result = self.commit(rt, new, obj, ctx, "delete", rt.plural, marking=True)
            self.wake_collector()
            return result
        final = snapshot(obj)
        final["metadata"]["resourceVersion"] = self.store.next_rv()
        self.remove(rt, final, ctx, "delete")
        return self.view(rt, final)

    def orphan_dependents(self, uid: str, ctx: Context) -> None:
        for key, dep in list(self.store.everything()):
            refs = dep["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs):
                dep_rt = self.registry.storage(*key)
                if dep_rt is None:
                    continue
                new = snapshot(dep)
                kept = [r for r in refs if r.get("uid") != uid]
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    del new["metadata"]["ownerReferences"]
                self.commit(dep_rt, new, dep, ctx, "update", dep_rt.plural)

    def remove(self, rt: ResourceType, final: dict[str, Any], ctx: Context, verb: str) -> None:
        """Drop an object for good (its resourceVersion already bumped): the DELETED event, the history."""
        meta = final["metadata"]
        self.store.remove(rt.storage_key, final, self._record(rt, final, verb, rt.plural, ctx, deleted=True))
        if rt.storage_key == CRD_KEY:
            self.registry.remove_crd(meta["name"])
        self.wake_collector()

    def _record(self, rt: ResourceType, obj: dict[str, Any], verb: str, resource: str, ctx: Context,
                deleted: bool = False) -> Write:
        meta = obj["metadata"]
        return Write(verb, rt.kind, meta.get("namespace"), meta["name"], meta["resourceVersion"], snapshot(obj),
                     rt.group, resource, ctx.user_agent, deleted)

    def _check_type(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if api_version not in (None, "", rt.api_version):
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                     f"version ({rt.api_version})")
        if kind not in (None, "", rt.kind):
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                                     f"({rt.kind}) of {rt}")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind

    def _place(self, rt: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str | None:
        """The namespace an object is created in, checked to exist and not to be terminating."""
        if not rt.namespaced:
            meta.pop("namespace", None)
            return None
        if namespace and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        namespace = namespace or meta.get("namespace") or "default"
        meta["namespace"] = namespace
        ns = self.store.get(NAMESPACES_KEY, None, namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rt.plural, rt.group, meta.get("name") or meta.get("generateName") or "",
                                   f"unable to create new content in namespace {namespace} because it is being "
                                   f"terminated")
        if rt.crd:
            crd = self.store.get(CRD_KEY, None, rt.crd)
            if crd is not None and crd["metadata"].get("deletionTimestamp"):
                raise errors.method_not_allowed("create not allowed while custom resource definition is terminating")
        return namespace

    def _update(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], ctx: Context, verb: str,
                subresource: str | None) -> dict[str, Any]:
        name = old["metadata"]["name"]
        meta = new.setdefault("metadata", {})
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
            raise errors.conflict(rt.plural, rt.group, name, f"Precondition failed: UID in precondition: "
                                  f"{meta['uid']}, UID in object meta: {old['metadata']['uid']}")
        if subresource == "status":
            if not rt.status_subresource:
                raise errors.no_route(f"{rt}/{name}/status")
            new = self._status_only(old, new)
        else:
            self._keep_system_fields(rt, old, new)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        self._check_finalizers(rt, new, old)
        new = self._admit(rt, new, old, ctx)
        if rt.generation and _body(new, rt.status_subresource) != _body(old, rt.status_subresource):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        if rt.storage_key == CRD_KEY and subresource is None:
            new["status"] = crd_status(new, now())
            if _body(new, True) == _body(old, True) and new["metadata"] == old["metadata"]:
                new["status"] = old.get("status")
        return self.commit(rt, new, old, ctx, verb, f"{rt.plural}/{subresource}" if subresource else rt.plural)

    @staticmethod
    def _status_only(old: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A write through /status: the old object with the new status (nothing else changes)."""
        new = snapshot(old)
        new.pop("status", None)
        if body.get("status") is not None:
            new["status"] = body["status"]
        return new

    @staticmethod
    def _keep_system_fields(rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
        """A write through the main resource: the server's metadata kept, and the status when it is a subresource."""
        for key in _SYSTEM_META:
            new["metadata"].pop(key, None)
            if key in old["metadata"]:
                new["metadata"][key] = old["metadata"][key]
        new["metadata"]["name"] = old["metadata"]["name"]
        if old["metadata"].get("namespace"):
            new["metadata"]["namespace"] = old["metadata"]["namespace"]
        if rt.status_subresource:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        if rt.hooks.on_update:
            rt.hooks.on_update(new, old)

    def _check_finalizers(self, rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        added = [f for f in new["metadata"].get("finalizers") or [] if f not in old["metadata"].get("finalizers", [])]
        if added:
            raise errors.invalid(rt.kind, rt.group, new["metadata"]["name"], [FieldError(
                "metadata.finalizers", "Forbidden",
                detail=f"no new finalizers can be added if the object is being deleted, found new finalizers "
                       f"{json.dumps(added)}")])

    def _admit(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None,
               ctx: Context) -> dict[str, Any]:
        admitted, unknown, problems = admit(rt, obj, old)
        if unknown and ctx.field_validation == "Strict":
            problems = [FieldError(p, "Unknown", detail="field not declared in schema") for p in unknown] + problems
        elif unknown and ctx.field_validation != "Ignore":
            ctx.warnings += [f'unknown field "{p}"' for p in unknown]
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName") or ""
        if problems:
            raise errors.invalid(rt.kind, rt.group, name, problems)
        size = len(json.dumps(admitted))
        if size > OBJECT_LIMIT:
            raise ApiError(413, "RequestEntityTooLarge", f"etcdserver: request is too large ({size} bytes of "
                           f"{rt.kind} {name!r}; the limit is {OBJECT_LIMIT})")
        return admitted

    def commit(self, rt: ResourceType, new: dict[str, Any], old: dict[str, Any] | None, ctx: Context, verb: str,
                resource: str, marking: bool = False) -> dict[str, Any]:
        """Store an admitted write (or drop the object when its last finalizer went, unless `marking` it for
        deletion); a write equal to `old` is no write."""
        if old is not None and new == old:
            return self.view(rt, old)  # a no-op write: no resourceVersion, no event (as on a real server)
        if rt.api_version != (self.registry.storage(*rt.storage_key) or rt).api_version:
            new["apiVersion"] = self.registry.storage(*rt.storage_key).api_version  # type: ignore[union-attr]
        if ctx.dry_run:
            return self.view(rt, new)
        new["metadata"]["resourceVersion"] = self.store.next_rv()
        meta = new["metadata"]
        finalized = meta.get("deletionTimestamp") and not meta.get("finalizers") and rt.storage_key != NAMESPACES_KEY
        if old is not None and finalized and not marking:
            self.remove(rt, new, ctx, verb)  # the last finalizer is gone: the deletion completes
            return self.view(rt, new)
        self.store.put(rt.storage_key, new, self._record(rt, new, verb, resource, ctx))
        if rt.storage_key == CRD_KEY and not meta.get("deletionTimestamp"):
            self.registry.remove_crd(meta["name"])
            for served in crd_types(new):
                self.registry.add(served)
        if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
            self.wake_collector()
        return self.view(rt, new)
