"""The built-in kinds the emulated server serves, with the defaults and checks a real server applies.

There are no controllers: a Job runs no pods, a Deployment keeps no replicas. Status is what
clients write to `/status`. What is emulated is what an operator's correctness depends on:
defaulting (a Job's selector and pod labels, a Service's cluster IP, a Secret's `stringData`),
immutable fields, and the validation that refuses a Job with `restartPolicy: Always`.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import itertools
from typing import Any

from kube_emulator.errors import FieldError
from kube_emulator.meta import label_problems, name_problems
from kube_emulator.registry import Hooks, ResourceType
from kube_emulator.selectors import match_label_selector

_cluster_ips = itertools.count(10)


def _containers(spec: dict[str, Any], path: str) -> list[FieldError]:
    containers = spec.get("containers")
    if not containers:
        return [FieldError(f"{path}.containers", "Required")]
    errors = []
    for n, container in enumerate(containers):
        if not container.get("name"):
            errors.append(FieldError(f"{path}.containers[{n}].name", "Required"))
        else:
            errors += [FieldError(f"{path}.containers[{n}].name", "Invalid", container["name"], p)
                       for p in name_problems(container["name"], "label")]
        if not container.get("image"):
            errors.append(FieldError(f"{path}.containers[{n}].image", "Required"))
    names = [c.get("name") for c in containers]
    errors += [FieldError(f"{path}.containers[{n}].name", "Duplicate", name)
               for n, name in enumerate(names) if name and names.index(name) != n]
    return errors


def _pod_spec(spec: Any, path: str, restart_policies: tuple[str, ...]) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError(path, "Required")]
    errors = _containers(spec, path)
    policy = spec.get("restartPolicy", "Always")
    if policy not in restart_policies:
        supported = ", ".join(f'"{p}"' for p in restart_policies)
        errors.append(FieldError(f"{path}.restartPolicy", "NotSupported", policy, f"supported values: {supported}"))
    return errors


def _pod_create(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("restartPolicy", "Always")
    obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _pod_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errors = _pod_spec(obj.get("spec"), "spec", ("Always", "OnFailure", "Never"))
    if old is not None and obj.get("spec", {}).get("containers") != old.get("spec", {}).get("containers"):
        images = [[c.get("image") for c in s.get("spec", {}).get("containers", [])] for s in (obj, old)]
        strip = [[{k: v for k, v in c.items() if k != "image"} for c in s.get("spec", {}).get("containers", [])]
                 for s in (obj, old)]
        if strip[0] != strip[1] or len(images[0]) != len(images[1]):
            errors.append(FieldError("spec", "Forbidden", detail="pod updates may not change fields other than "
                                     "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                                     "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions)"))
    return errors


def _job_create(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    uid, name = obj["metadata"]["uid"], obj["metadata"].get("name", "")
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})
    obj["status"] = {}


def _job_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    errors = _pod_spec(template.get("spec"), "spec.template.spec", ("OnFailure", "Never"))
    errors += label_problems((template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels")
    if spec.get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
        errors.append(FieldError("spec.completionMode", "NotSupported", spec.get("completionMode"),
                                 'supported values: "NonIndexed", "Indexed"'))
    if old is not None:
        before = old.get("spec") or {}
        for key in ("selector", "completionMode", "template"):
            if spec.get(key) != before.get(key):
                errors.append(FieldError(f"spec.{key}", "Invalid", spec.get(key), "field is immutable"))
    return errors


def _deployment_create(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                           "maxUnavailable": "25%"}})
    obj["status"] = {}


def _deployment_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    errors = _pod_spec(template.get("spec"), "spec.template.spec", ("Always",))
    if not spec.get("selector"):
        return errors + [FieldError("spec.selector", "Required")]
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not match_label_selector(spec["selector"], labels):
        errors.append(FieldError("spec.template.metadata.labels", "Invalid", labels,
                                 "`selector` does not match template `labels`"))
    if old is not None and spec["selector"] != (old.get("spec") or {}).get("selector"):
        errors.append(FieldError("spec.selector", "Invalid", spec["selector"], "field is immutable"))
    return errors


def _service_create(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
        spec["clusterIP"] = str(ipaddress.ip_address("10.96.0.0") + next(_cluster_ips))
    spec["clusterIPs"] = [spec["clusterIP"]]
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj["status"] = {"loadBalancer": {}}


def _service_update(obj: dict[str, Any], old: dict[str, Any]) -> None:
    for key in ("clusterIP", "clusterIPs"):
        if key in (old.get("spec") or {}) and key not in obj.setdefault("spec", {}):
            obj["spec"][key] = old["spec"][key]


def _service_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = []
    if not spec.get("ports") and spec.get("clusterIP") != "None":
        errors.append(FieldError("spec.ports", "Required"))
    if old is not None and spec.get("clusterIP") != (old.get("spec") or {}).get("clusterIP"):
        errors.append(FieldError("spec.clusterIP", "Invalid", spec.get("clusterIP"), "field is immutable"))
    return errors


def _secret_write(obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _data_validate(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errors = []
    for field in ("data", "binaryData"):
        for key in obj.get(field) or {}:
            if not key or len(key) > 253 or not all(c.isalnum() or c in "-._" for c in key):
                errors.append(FieldError(f"{field}[{key}]", "Invalid", key, "a valid config key must consist of "
                                         "alphanumeric characters, '-', '_' or '.'"))
    if old is not None and old.get("immutable") and any(obj.get(f) != old.get(f) for f in ("data", "binaryData")):
        errors.append(FieldError("data", "Forbidden", detail="field is immutable when `immutable` is set"))
    return errors


def _namespace_create(obj: dict[str, Any]) -> None:
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}


def _namespace_update(obj: dict[str, Any], old: dict[str, Any]) -> None:
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj["spec"] = copy.deepcopy(old.get("spec") or {})


# events.k8s.io/v1 field <-> core v1 Event field: one storage, two views (as on a real server)
_EVENT_FIELDS = (("regarding", "involvedObject"), ("related", "related"), ("note", "message"), ("reason", "reason"),
                 ("type", "type"), ("action", "action"), ("reportingController", "reportingComponent"),
                 ("reportingInstance", "reportingInstance"), ("deprecatedSource", "source"),
                 ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
                 ("deprecatedCount", "count"), ("eventTime", "eventTime"), ("series", "series"))


def _event_to_core(event: dict[str, Any]) -> dict[str, Any]:
    out = {"apiVersion": "v1", "kind": "Event", "metadata": event.get("metadata") or {}}
    out.update({core: event[new] for new, core in _EVENT_FIELDS if new in event})
    return out


def _event_from_core(event: dict[str, Any]) -> dict[str, Any]:
    out = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": event["metadata"]}
    out.update({new: event[core] for new, core in _EVENT_FIELDS if core in event})
    return out


def builtin_types() -> list[ResourceType]:
    """Every built-in resource type served (see the module docstring for what they do)."""
    rt = ResourceType
    return [
        rt("", "v1", "namespaces", "Namespace", False, short_names=("ns",), subresources=("status",),
           name_rule="label", hooks=Hooks(_namespace_create, _namespace_update)),
        rt("", "v1", "pods", "Pod", True, short_names=("po",), categories=("all",), subresources=("status",),
           hooks=Hooks(_pod_create, None, _pod_validate)),
        rt("", "v1", "services", "Service", True, short_names=("svc",), categories=("all",),
           subresources=("status",), name_rule="label1035",
           hooks=Hooks(_service_create, _service_update, _service_validate)),
        rt("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",), hooks=Hooks(None, None, _data_validate)),
        rt("", "v1", "secrets", "Secret", True, hooks=Hooks(_secret_write, _secret_write, _data_validate)),
        rt("", "v1", "events", "Event", True, short_names=("ev",), name_rule="subdomain"),
        rt("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
        rt("batch", "v1", "jobs", "Job", True, categories=("all",), subresources=("status",), generation=True,
           default_propagation="Orphan", hooks=Hooks(_job_create, None, _job_validate)),
        rt("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",), categories=("all",),
           subresources=("status",), generation=True, hooks=Hooks(_deployment_create, None, _deployment_validate)),
        rt("events.k8s.io", "v1", "events", "Event", True, short_names=("ev",), storage=False,
           stored_as=("", "events"), to_storage=_event_to_core, from_storage=_event_from_core),
        rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
           verbs=("create",), virtual=True),
        rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
           short_names=("crd", "crds"), subresources=("status",), generation=True),
        rt("coordination.k8s.io", "v1", "leases", "Lease", True),
        # stored only, as they come (after their schemas' checks): no controller acts on them
        rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, short_names=("pvc",),
           subresources=("status",)),
        rt("", "v1", "persistentvolumes", "PersistentVolume", False, short_names=("pv",), subresources=("status",)),
        rt("", "v1", "nodes", "Node", False, short_names=("no",), subresources=("status",)),
        rt("", "v1", "endpoints", "Endpoints", True, short_names=("ep",)),
        rt("", "v1", "resourcequotas", "ResourceQuota", True, short_names=("quota",), subresources=("status",)),
        rt("", "v1", "limitranges", "LimitRange", True, short_names=("limits",)),
        rt("apps", "v1", "statefulsets", "StatefulSet", True, short_names=("sts",), categories=("all",),
           subresources=("status",), generation=True),
        rt("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",), categories=("all",),
           subresources=("status",), generation=True),
        rt("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",), categories=("all",),
           subresources=("status",), generation=True),
        rt("batch", "v1", "cronjobs", "CronJob", True, short_names=("cj",), categories=("all",),
           subresources=("status",), generation=True),
        rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, short_names=("pdb",),
           subresources=("status",), generation=True),
        rt("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, short_names=("netpol",),
           generation=True),
        rt("networking.k8s.io", "v1", "ingresses", "Ingress", True, short_names=("ing",), subresources=("status",),
           generation=True),
        rt("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, short_names=("pc",)),
        rt("rbac.authorization.k8s.io", "v1", "roles", "Role", True, name_rule="path"),
        rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, name_rule="path"),
        rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, name_rule="path"),
        rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False,
           name_rule="path"),
    ]
