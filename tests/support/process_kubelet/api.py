"""The Kubernetes HTTP API as the process kubelet uses it: list, get, create, merge-patch, delete by path.

    api = KubeApi("kubeconfig.yaml")
    jobs = api.list(resource_path("batch/v1", "default", "jobs"))
    api.patch_status(resource_path("batch/v1", "default", "jobs", "train"), old_status, new_status)

Plain REST through the `kubernetes` client's ApiClient (which reads the kubeconfig: server,
TLS, token or client certificate), so it works against any API server. A 404 on a single
object and a 409 on create are answers (None), not errors: controllers race by design.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import config
from kubernetes.client.exceptions import ApiException

from process_kubelet.objects import Manifest

MERGE_PATCH = "application/merge-patch+json"


def resource_path(group_version: str, namespace: str, plural: str, name: str | None = None,
                  subresource: str | None = None) -> str:
    """/api/v1/... for the core group, /apis/<group>/<version>/... for the others."""
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{base}/namespaces/{namespace}/{plural}"
    if name is not None:
        path += f"/{name}"
    if subresource is not None:
        path += f"/{subresource}"
    return path


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> Manifest:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`: nested objects diffed, removed keys null."""
    patch: Manifest = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            inner = merge_patch(before, value)
            if inner:
                patch[key] = inner
        elif key not in old or before != value:
            patch[key] = value
    return patch


class KubeApi:
    def __init__(self, kubeconfig: str | Path, context: str | None = None) -> None:
        self.client = config.new_client_from_config(config_file=str(kubeconfig), context=context)

    def request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = "application/json") -> Any:
        return self.client.call_api(
            path, method, query_params=list((query or {}).items()),
            header_params={"Accept": "application/json", "Content-Type": content_type}, body=body,
            response_types_map={200: "object", 201: "object", 202: "object"}, auth_settings=["BearerToken"],
            _return_http_data_only=True, _preload_content=True, _request_timeout=30)

    def list(self, path: str) -> list[Manifest] | None:
        """The items of a collection; None when the resource type does not exist (its CRD is not installed)."""
        try:
            return list((self.request("GET", path) or {}).get("items") or [])
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def get(self, path: str) -> Manifest | None:
        try:
            return self.request("GET", path)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create(self, path: str, body: Mapping[str, Any]) -> Manifest | None:
        """POST to collection `path`; None when an object of that name already exists."""
        try:
            return self.request("POST", path, body=dict(body))
        except ApiException as error:
            if error.status == 409:
                return None
            raise

    def patch(self, path: str, body: Mapping[str, Any]) -> Manifest | None:
        """A JSON merge patch of the object at `path`; None when it is gone."""
        try:
            return self.request("PATCH", path, body=dict(body), content_type=MERGE_PATCH)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def patch_status(self, path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Manifest | None:
        """Write status `new` over `old` through the object's status subresource (nothing sent when equal)."""
        patch = merge_patch(old, new)
        if not patch:
            return None
        return self.patch(f"{path}/status", {"status": patch})

    def delete(self, path: str, grace_seconds: int | None = None) -> None:
        """DELETE, background propagation; a missing object is already deleted."""
        query: dict[str, Any] = {"propagationPolicy": "Background"}
        if grace_seconds is not None:
            query["gracePeriodSeconds"] = grace_seconds
        try:
            self.request("DELETE", path, query=query)
        except ApiException as error:
            if error.status != 404:
                raise

    def close(self) -> None:
        self.client.close()
