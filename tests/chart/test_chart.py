"""The Helm chart: lint, values schema, and what installs of its main variants would create.

Rendered by the Helm library (no cluster); every object of a built-in kind is validated by
kubernetes-validate in strict mode (unknown fields refused) at the chart's lowest Kubernetes
version and the newest one the library knows. ServiceMonitor and KopfPeering are custom
resources without a published schema there: their kinds are skipped, and their fields are
asserted here instead.
"""

from __future__ import annotations

import json
import shutil
import tomllib

import helm_python as helm
import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError, latest_version

from chart_render import CHART, NAMESPACE, ROOT, find, lint_chart, render_chart

KUBE_VERSIONS = ("1.29", latest_version())  # Chart.yaml's kubeVersion floor, and the newest schemas
CUSTOM_KINDS = {"ServiceMonitor", "KopfPeering"}  # no schema in kubernetes-validate: checked field by field

S3 = {"store": {"url": "s3://genesys-runs/prod", "credentialsSecret": "genesys-store"}}
VARIANTS = {
    "defaults": {},
    "pvc-existing": {"store": {"pvc": {"create": False, "claimName": "shared-store", "mountPath": "/mnt/store"}}},
    "pvc-class": {"store": {"pvc": {"storageClassName": "nfs-client", "size": "2Ti"}}},
    "s3-secret": S3,
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "interval": "15s",
                                                       "labels": {"release": "kube-prometheus-stack"}}}},
    "dashboards": {"dashboards": {"enabled": True, "labels": {"team": "research"}}},
    "everything": {**S3, "weaviate": {"url": "http://weaviate.weaviate:8080"},
                   "operator": {"watchNamespace": "research", "planInterval": 2.5, "metricsPort": 9200,
                                "nodeSelector": {"pool": "system"},
                                "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]},
                   "images": {"operator": {"repository": "registry.local/genesys/operator", "tag": "1.2.3",
                                           "pullPolicy": "Always"},
                              "agent": {"repository": "registry.local/genesys/agent", "tag": "1.2.3"},
                              "trainer": {"repository": "registry.local/genesys/trainer", "tag": "1.2.3"}}},
    "no-rbac": {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "genesys-operator"}},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> tuple[str, list[dict]]:
    return request.param, render_chart(VARIANTS[request.param])


def deployment(manifests: list[dict]) -> dict:
    (found,) = find(manifests, "Deployment")
    return found


def operator_container(manifests: list[dict]) -> dict:
    (container,) = deployment(manifests)["spec"]["template"]["spec"]["containers"]
    return container


def env_of(manifests: list[dict]) -> dict[str, object]:
    """The operator's environment: name -> value (or valueFrom)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in operator_container(manifests)["env"]}


def test_the_chart_installs_this_release_of_the_project():
    with helm.Chart.load(CHART) as chart:
        app_version = chart.metadata["appVersion"]
    assert app_version == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"], (
        "Chart.yaml appVersion (the images' default tag) must be pyproject.toml's version")


def test_helm_lint_strict_passes():
    assert lint_chart() == []
    assert lint_chart(VARIANTS["everything"]) == []


def test_every_rendered_object_is_valid_kubernetes(variant):
    name, manifests = variant
    for manifest in manifests:
        where = f"{name}: {manifest['kind']}/{manifest['metadata']['name']}"
        assert manifest["metadata"]["labels"]["app.kubernetes.io/instance"] == "genesys", where
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{where} is not valid Kubernetes {version}: {'.'.join(map(str, err.path))}: "
                            f"{err.message}")
            except SchemaNotFoundError as err:
                pytest.fail(f"{where}: {err.message}")


def test_defaults_install_the_operator_with_a_created_store_claim():
    manifests = render_chart()
    assert sorted(m["kind"] for m in manifests) == sorted([
        "Deployment", "KopfPeering", "PersistentVolumeClaim", "Role",
        "RoleBinding", "Service", "ServiceAccount"])
    (claim,) = find(manifests, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "genesys-store"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and "storageClassName" not in claim["spec"]
    env = env_of(manifests)
    assert env["GENESYS_STORE"] == "/store" and env["GENESYS_STORE_PVC"] == "genesys-store"
    assert env["GENESYS_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["GENESYS_AGENT_IMAGE"] == "ghcr.io/genesys-lm/agent:0.1.0"
    assert env["GENESYS_TRAINER_IMAGE"] == "ghcr.io/genesys-lm/trainer:0.1.0"
    assert (env["GENESYS_METRICS_PORT"], env["GENESYS_PLAN_INTERVAL"]) == ("9100", "10")
    assert "GENESYS_STORE_SECRET" not in env and "GENESYS_WEAVIATE_URL" not in env
    pod = deployment(manifests)["spec"]["template"]["spec"]
    assert {"name": "store", "persistentVolumeClaim": {"claimName": "genesys-store"}} in pod["volumes"]
    assert {"name": "store", "mountPath": "/store"} in operator_container(manifests)["volumeMounts"]


def test_an_existing_claim_is_mounted_not_created():
    manifests = render_chart(VARIANTS["pvc-existing"])
    assert find(manifests, "PersistentVolumeClaim") == []
    env = env_of(manifests)
    assert (env["GENESYS_STORE"], env["GENESYS_STORE_PVC"]) == ("/mnt/store", "shared-store")
    assert {"name": "store", "mountPath": "/mnt/store"} in operator_container(manifests)["volumeMounts"]


def test_a_missing_claim_name_is_refused_with_the_fix():
    with pytest.raises(helm.HelmRenderError, match="store.pvc.claimName: name an existing ReadWriteMany claim"):
        render_chart({"store": {"pvc": {"create": False}}})


def test_an_s3_store_uses_no_claim_and_hands_its_secret_to_the_operator_and_the_pods():
    manifests = render_chart(S3)
    assert find(manifests, "PersistentVolumeClaim") == []
    env = env_of(manifests)
    assert env["GENESYS_STORE"] == "s3://genesys-runs/prod" and "GENESYS_STORE_PVC" not in env
    assert env["GENESYS_STORE_SECRET"] == "genesys-store"  # the operator passes it on to every pod
    container = operator_container(manifests)
    assert container["envFrom"] == [{"secretRef": {"name": "genesys-store"}}]
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]


def test_the_service_monitor_scrapes_the_metrics_port_of_the_service():
    manifests = render_chart(VARIANTS["service-monitor"])
    (monitor,) = find(manifests, "ServiceMonitor")
    (service,) = find(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}]
    pod_labels = deployment(manifests)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in operator_container(manifests)["ports"]
    assert find(render_chart(), "ServiceMonitor") == []


def test_dashboards_become_configmaps_for_grafanas_sidecar(tmp_path):
    chart = tmp_path / "genesys"
    shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("dashboards"))
    assert find(render_chart(VARIANTS["dashboards"], chart=chart), "ConfigMap") == []  # none yet: nothing
    (chart / "dashboards").mkdir()
    boards = {"Evolution_Overview.json": {"title": "Evolution"}, "budgets.json": {"title": "Budgets"}}
    for name, board in boards.items():
        (chart / "dashboards" / name).write_text(json.dumps(board, indent=2))
    (chart / "dashboards" / "notes.md").write_text("not a dashboard")
    maps = find(render_chart(VARIANTS["dashboards"], chart=chart), "ConfigMap")
    assert sorted(m["metadata"]["name"] for m in maps) == ["genesys-dashboard-budgets",
                                                           "genesys-dashboard-evolution-overview"]
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["labels"]["team"] == "research"
        ((name, text),) = config_map["data"].items()
        assert json.loads(text) == boards[name]
    assert find(render_chart(chart=chart), "ConfigMap") == []  # off by default


def test_the_chart_wraps_every_committed_dashboard():
    committed = sorted((CHART / "dashboards").glob("*.json"))
    maps = find(render_chart(VARIANTS["dashboards"]), "ConfigMap")
    assert sorted(name for m in maps for name in m["data"]) == sorted(p.name for p in committed)


def test_another_served_namespace_gets_the_role_and_the_peering():
    manifests = render_chart(VARIANTS["everything"])
    assert env_of(manifests)["GENESYS_NAMESPACE"] == "research"
    for kind in ("Role", "RoleBinding", "KopfPeering"):
        (found,) = find(manifests, kind)
        assert found["metadata"]["namespace"] == "research", kind
    (binding,) = find(manifests, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "genesys", "namespace": NAMESPACE}]
    assert deployment(manifests)["metadata"]["namespace"] == NAMESPACE
    env = env_of(manifests)
    assert env["GENESYS_WEAVIATE_URL"] == "http://weaviate.weaviate:8080"
    assert (env["GENESYS_METRICS_PORT"], env["GENESYS_PLAN_INTERVAL"]) == ("9200", "2.5")
    assert env["GENESYS_TRAINER_IMAGE"] == "registry.local/genesys/trainer:1.2.3"
    container = operator_container(manifests)
    assert (container["image"], container["imagePullPolicy"]) == ("registry.local/genesys/operator:1.2.3", "Always")


def test_without_rbac_an_existing_service_account_is_used():
    manifests = render_chart(VARIANTS["no-rbac"])
    assert not {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} & {
        m["kind"] for m in manifests}
    assert deployment(manifests)["spec"]["template"]["spec"]["serviceAccountName"] == "genesys-operator"
    with pytest.raises(helm.HelmRenderError, match="serviceAccount.name: set it to an existing ServiceAccount"):
        render_chart({"serviceAccount": {"create": False}})


def test_the_peering_object_is_the_one_the_operator_is_started_with():
    (peering,) = find(render_chart(), "KopfPeering")
    assert (peering["apiVersion"], peering["metadata"]["name"]) == ("kopf.dev/v1", "genesys")
    assert peering["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize(("values", "message"), [
    ({"store": {"bucket": "runs"}}, "at '/store': additional properties 'bucket' not allowed"),
    ({"operatr": {}}, "additional properties 'operatr' not allowed"),
    ({"operator": {"planInterval": "10s"}}, "at '/operator/planInterval': got string, want number"),
    ({"operator": {"metricsPort": 80}}, "at '/operator/metricsPort'"),
    ({"store": {"url": "my-bucket/runs"}}, "at '/store/url': 'my-bucket/runs' does not match pattern"),
    ({"store": {"pvc": {"accessModes": ["ReadOnlyMany"]}}}, "value must be one of 'ReadWriteMany', 'ReadWriteOnce'"),
    ({"images": {"agent": {"pullPolicy": "Always"}}}, "additional properties 'pullPolicy' not allowed"),
    ({"dashboards": {"labels": {"team": 1}}}, "at '/dashboards/labels/team': got number, want string"),
    ({"rbac": {"create": "yes"}}, "at '/rbac/create': got string, want boolean"),
    ({"operator": {"podSecurityContext": {"runAsNonRoot": False}}}, "at '/operator/podSecurityContext/runAsNonRoot'"),
])
def test_the_values_schema_refuses_bad_values_naming_the_key(values, message):
    with pytest.raises(helm.HelmValuesError) as caught:
        render_chart(values)
    assert message in str(caught.value)


def test_the_operator_runs_hardened_one_at_a_time():
    manifests = render_chart()
    spec = deployment(manifests)["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    container = operator_container(manifests)
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
    assert env_of(manifests)["HOME"] == "/tmp"  # the root filesystem is read-only


def test_the_metrics_port_cannot_take_the_liveness_port():
    with pytest.raises(helm.HelmRenderError, match="operator.metricsPort: 8080 is kopf's liveness endpoint"):
        render_chart({"operator": {"metricsPort": 8080}})
