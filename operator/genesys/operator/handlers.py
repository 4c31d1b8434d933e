"""The kopf handlers: thin shells that parse, call pure code or the Reconciler, and patch status.

    kopf run --module genesys.operator.handlers --namespace genesys --liveness http://0.0.0.0:8080/healthz

- Evolution created (or found at startup): check it (a bad one gets Ready=False, a Warning
  Event naming the field and the fix, and nothing is spawned), store it and its seeds,
  create its ScaleBudgets and seed Designs, mark it Running.
- Every GENESYS_PLAN_INTERVAL seconds per running Evolution: one planning pass
  (`genesys.operator.reconcile`), then its status; at the end Completed, or Failed when its LLM
  designer cannot be used (the first session that finds so is the operator's preflight).
No finalizers: owner references delete everything with the Evolution, even while the
operator is down. kopf keeps its own bookkeeping in `genesys.dev/` annotations (the CRD
schemas would prune a status field), and Designs' trees stay out of its diff base.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import kopf
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from genesys.api import storage
from genesys.api.vocabulary import EvolutionPhase
from genesys.observability.metrics import EvolutionMetrics
from genesys.operator.builders import layout_of
from genesys.operator.cluster import USER_AGENT, Cluster
from genesys.operator.reconcile import Reconciler, now, timestamp
from genesys.operator.settings import OperatorSettings, from_env
from genesys.operator.validation import InvalidEvolution, admit

GROUP, VERSION = "genesys.dev", "v1alpha1"
log = logging.getLogger("genesys.operator")


class Runtime:
    """What the handlers share: settings, the API client, metrics (set up once at startup)."""

    settings: OperatorSettings
    cluster: Cluster
    reconciler: Reconciler
    metrics: EvolutionMetrics


runtime = Runtime()


def post_event(obj: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
    """A Kubernetes Event on `obj` (kopf posts it in the background)."""
    body = kopf.Body(cast(kopf.RawBody, dict(obj)))
    kopf.event(body, type=kind, reason=reason, message=message[:1000])


def _api_client() -> k8s_client.ApiClient:
    try:
        k8s_config.load_incluster_config()
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()
    api = k8s_client.ApiClient()
    api.user_agent = USER_AGENT  # audit logs (and the tests) tell the operator's requests from kopf's and others'
    return api


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration", ignored_fields=["spec.tree"])
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 60
    # only its own namespace and resources: no cluster-wide scans of namespaces or CRDs, so no ClusterRole
    settings.scanning.disabled = True
    runtime.settings = from_env()
    runtime.cluster = Cluster(_api_client(), runtime.settings.config.namespace)
    if runtime.cluster.has_resource("kubeflow.org", "v1", "pytorchjobs"):
        from dataclasses import replace
        runtime.settings = replace(runtime.settings,
                                   config=replace(runtime.settings.config, pytorchjob_available=True))
    runtime.metrics = EvolutionMetrics()
    if runtime.settings.metrics_port >= 0:
        port = runtime.metrics.serve(runtime.settings.metrics_port, addr=runtime.settings.metrics_addr)
        log.info("metrics on %s:%d", runtime.settings.metrics_addr, port)
    runtime.reconciler = Reconciler(runtime.cluster, runtime.settings.config, events=post_event,
                                    metrics=runtime.metrics)
    log.info("training children: %s", "PyTorchJob" if runtime.settings.config.pytorchjob_available
             else "Indexed Job + headless Service")


def _ready(status: str, reason: str, message: str, generation: int | None) -> list[dict[str, Any]]:
    return [{"type": "Ready", "status": status, "reason": reason, "message": message,
             "lastTransitionTime": timestamp(now()), "observedGeneration": generation}]


@kopf.on.resume(GROUP, VERSION, "evolutions")
@kopf.on.create(GROUP, VERSION, "evolutions")
def start_evolution(body: kopf.Body, name: str, **_: Any) -> None:
    """Admit the Evolution and create what it starts with; idempotent (resume runs it again)."""
    status = body.get("status") or {}
    if status.get("phase") in ("Completed", "Failed"):
        return
    generation = body["metadata"].get("generation")
    others = [e["metadata"]["name"] for e in runtime.cluster.list("evolutions")]
    try:
        evolution = admit(body, others)
        storage.probe(layout_of(evolution, runtime.settings.config).root)
    except (InvalidEvolution, storage.StoreError) as err:
        runtime.cluster.patch_status("evolutions", name, {
            "phase": "Failed", "completedReason": str(err), "conditions": _ready("False", "Invalid", str(err),
                                                                                generation)})
        post_event(body, "Warning", "Invalid", str(err))
        return
    runtime.reconciler.initialize(evolution)
    if status.get("startTime") is None:
        runtime.cluster.patch_status("evolutions", name, {
            "phase": "Running", "startTime": timestamp(now()),
            "conditions": _ready("True", "Running", "seeds and budgets created", generation)})
        post_event(body, "Normal", "Started", f"{len(evolution.spec.seeds)} seeds, "
                                              f"rungs {', '.join(evolution.spec.ladder.rung_names())}")


@kopf.on.update(GROUP, VERSION, "evolutions", field="spec")
def spec_changed(body: kopf.Body, **_: Any) -> None:
    """A running Evolution keeps the spec it started with (its decisions so far were made under it)."""
    post_event(body, "Warning", "SpecChangeIgnored", "a running Evolution keeps the spec it started with; "
                                                     "create a new Evolution to run a changed spec")


@kopf.on.delete(GROUP, VERSION, "evolutions", optional=True)  # optional: no finalizer, owner references clean up
def evolution_deleted(name: str, **_: Any) -> None:
    runtime.metrics.forget(name)


def _interval() -> float:
    try:
        return from_env().plan_interval
    except Exception:  # the startup handler reports bad settings; the timer needs only a number here
        return 10.0


@kopf.timer(GROUP, VERSION, "evolutions", interval=_interval(), initial_delay=1.0)
def plan_pass(body: kopf.Body, name: str, **_: Any) -> None:
    status = body.get("status") or {}
    phase: EvolutionPhase | None = status.get("phase")
    if phase != "Running" or status.get("startTime") is None:
        return  # not admitted yet, refused, or ended
    try:
        evolution = admit(body)
        result = runtime.reconciler.reconcile(body, evolution)
    except ApiException:
        runtime.metrics.reconcile_error(name, "api")
        raise  # kopf logs it and the next tick tries again
    except (storage.StoreError, OSError):
        runtime.metrics.reconcile_error(name, "store")
        raise
    except Exception:
        runtime.metrics.reconcile_error(name, "internal")
        raise
    fields: dict[str, Any] = dict(result.evolution_status)
    if result.completed is not None:
        fields.update(runtime.reconciler.ending(body, result.completed))
    runtime.cluster.patch_status("evolutions", name, fields)
