"""The controllers that finish deletions: garbage collection, namespace and CRD cleanup.

* an object all of whose owners (metadata.ownerReferences, by uid) are gone is deleted in the
  background, recursively; an owner reference to a missing owner next to a live one is dropped;
* an owner deleted in the foreground (finalizer `foregroundDeletion`) has its dependents deleted
  first, then loses the finalizer and goes;
* a terminating namespace has everything in it deleted, then goes;
* a deleted CRD has its custom resources deleted (their finalizers honoured), then goes.

It runs on the server's loop, woken by the writes that can need it; `collect()` does one full pass.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kube_emulator.operations import CRD_CLEANUP, CRD_KEY, NAMESPACES_KEY, Context, Operations
from kube_emulator.store import snapshot

log = logging.getLogger(__name__)
GC_AGENT = "kube-controller-manager/v1.31.4 (linux/amd64) kubernetes/emulated/system:serviceaccount:kube-system:" \
           "generic-garbage-collector"


class Collector:
    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.ctx = Context(user_agent=GC_AGENT)
        self._wake = asyncio.Event()
        self.passes = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Collect whenever woken, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            for _ in range(100):  # cascades: each pass may free more (bounded, in case of a cycle)
                try:
                    if not self.collect():
                        break
                except Exception:  # noqa: BLE001  # keep collecting; a failing pass is logged for the test
                    log.exception("garbage collection pass failed")
                    break
                await asyncio.sleep(0)

    def collect(self) -> bool:
        """One pass over every object; True if it changed anything."""
        self.passes += 1
        uids = self.ops.store.by_uid()
        changed = False
        for key, obj in list(self.ops.store.everything()):
            if self.ops.store.get(key, obj["metadata"].get("namespace"), obj["metadata"]["name"]) is not obj:
                continue  # changed earlier in this pass
            changed |= self._owners(key, obj, uids)
            meta = obj["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            if "foregroundDeletion" in (meta.get("finalizers") or []):
                changed |= self._foreground(key, obj, uids)
            elif key == NAMESPACES_KEY:
                changed |= self._namespace(obj)
            elif key == CRD_KEY and CRD_CLEANUP in (meta.get("finalizers") or []):
                changed |= self._crd(obj)
        return changed

    def _delete(self, key: tuple[str, str], obj: dict[str, Any], policy: str = "Background") -> bool:
        rt = self.ops.registry.storage(*key)
        if rt is None or obj["metadata"].get("deletionTimestamp"):
            return False
        self.ops.delete_object(rt, obj, policy, self.ctx)
        return True

    def _update_meta(self, key: tuple[str, str], obj: dict[str, Any], **changes: Any) -> bool:
        rt = self.ops.registry.storage(*key)
        if rt is None:
            return False
        new = snapshot(obj)
        for name, value in changes.items():
            if value:
                new["metadata"][name] = value
            else:
                new["metadata"].pop(name, None)
        self.ops.commit(rt, new, obj, self.ctx, "update", rt.plural)
        return True

    def _owners(self, key: tuple[str, str], obj: dict[str, Any], uids: dict[str, Any]) -> bool:
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs:
            return False
        alive = [r for r in refs if r.get("uid") in uids]
        if not alive:
            return self._delete(key, obj)
        if len(alive) < len(refs):
            return self._update_meta(key, obj, ownerReferences=alive)
        return False

    def _foreground(self, key: tuple[str, str], obj: dict[str, Any], uids: dict[str, Any]) -> bool:
        uid = obj["metadata"]["uid"]
        dependents = [(k, o) for k, o in self.ops.store.everything()
                      if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]
        if dependents:
            return any([self._delete(k, o, "Foreground") for k, o in dependents])
        finalizers = [f for f in obj["metadata"]["finalizers"] if f != "foregroundDeletion"]
        return self._update_meta(key, obj, finalizers=finalizers)

    def _namespace(self, ns: dict[str, Any]) -> bool:
        name = ns["metadata"]["name"]
        contents = [(k, o) for k, o in self.ops.store.everything() if o["metadata"].get("namespace") == name]
        if contents:
            return any([self._delete(k, o) for k, o in contents])
        rt = self.ops.registry.storage(*NAMESPACES_KEY)
        assert rt is not None
        final = snapshot(ns)
        final["metadata"]["resourceVersion"] = self.ops.store.next_rv()
        final["spec"] = {}
        self.ops.remove(rt, final, self.ctx, "delete")
        return True

    def _crd(self, crd: dict[str, Any]) -> bool:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        resources = self.ops.store.items((group, plural))
        if resources:
            return any([self._delete((group, plural), o) for o in resources])
        finalizers = [f for f in crd["metadata"]["finalizers"] if f != CRD_CLEANUP]
        return self._update_meta(CRD_KEY, crd, finalizers=finalizers)
