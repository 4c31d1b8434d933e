"""The operator's few verbs on the API server, through the official `kubernetes` client.

    cluster = Cluster(ApiClient(), namespace="research")
    designs = cluster.list("designs", evolution="demo")       # a fresh LIST, never a cache
    cluster.create(manifest)                                   # None: it exists already (409)
    cluster.patch_status("designs", "demo-d1", {"phase": "Verified"})

Objects are plain dicts as the API server returns them. The resources the operator
touches are listed once in RESOURCES; the Helm chart's Role grants exactly those verbs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from genesys.operator.names import EVOLUTION_LABEL


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        base = "/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"
        parts = [base, "namespaces", namespace, self.plural]
        if name is not None:
            parts.append(name)
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


RESOURCES: dict[str, Resource] = {
    "evolutions": Resource("genesys.dev", "v1alpha1", "evolutions"),
    "designs": Resource("genesys.dev", "v1alpha1", "designs"),
    "verificationjobs": Resource("genesys.dev", "v1alpha1", "verificationjobs"),
    "scalebudgets": Resource("genesys.dev", "v1alpha1", "scalebudgets"),
    "jobs": Resource("batch", "v1", "jobs"),
    "pytorchjobs": Resource("kubeflow.org", "v1", "pytorchjobs"),
    "services": Resource("", "v1", "services"),
    "pods": Resource("", "v1", "pods"),
}
KINDS = {"Evolution": "evolutions", "Design": "designs", "VerificationJob": "verificationjobs",
         "ScaleBudget": "scalebudgets", "Job": "jobs", "PyTorchJob": "pytorchjobs", "Service": "services"}
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = "genesys-operator"  # the operator's requests (kopf's own say "kopf/<version>")


class Cluster:
    def __init__(self, api: ApiClient, namespace: str):
        self.api = api
        self.namespace = namespace

    def _call(self, method: str, path: str, *, body: Any = None, query: list[tuple[str, str]] | None = None,
              content_type: str = "application/json") -> Any:
        response = self.api.call_api(path, method, query_params=query or [], body=body,
                                     header_params={"Accept": "application/json", "Content-Type": content_type},
                                     auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True)
        data = response.data
        return json.loads(data) if data else None

    def list(self, plural: str, *, evolution: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        """A fresh LIST of the namespace's objects, of one evolution (its label) or matching `selector`."""
        labels = [s for s in (f"{EVOLUTION_LABEL}={evolution}" if evolution else None, selector) if s]
        query = [("labelSelector", ",".join(labels))] if labels else []
        listing = self._call("GET", RESOURCES[plural].path(self.namespace), query=query)
        return list(listing.get("items") or [])

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", RESOURCES[plural].path(self.namespace, name))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create `manifest`; None when an object of that name exists (deterministic names: done before)."""
        plural = KINDS[manifest["kind"]]
        try:
            return self._call("POST", RESOURCES[plural].path(self.namespace), body=dict(manifest))
        except ApiException as err:
            if err.status == 409:
                return None
            raise

    def patch(self, plural: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", RESOURCES[plural].path(self.namespace, name), body=dict(patch),
                          content_type=MERGE_PATCH)

    def patch_status(self, plural: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `status` into the object's status subresource (null deletes a field)."""
        return self._call("PATCH", RESOURCES[plural].path(self.namespace, name, "status"),
                          body={"status": dict(status)}, content_type=MERGE_PATCH)

    def delete(self, plural: str, name: str) -> None:
        """Delete with its dependents (background propagation); gone already is fine."""
        try:
            self._call("DELETE", RESOURCES[plural].path(self.namespace, name),
                       body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        except ApiException as err:
            if err.status != 404:
                raise

    def has_resource(self, group: str, version: str, plural: str) -> bool:
        """Whether the API server serves group/version/plural (e.g. the training operator's PyTorchJob)."""
        try:
            listing = self._call("GET", f"/apis/{group}/{version}")
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return any(r.get("name") == plural for r in listing.get("resources") or [])
