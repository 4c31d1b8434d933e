"""The cluster example (examples/evolution.yaml) and the kind end-to-end workflow that installs the chart.

The example must parse as an Evolution and pass the schema of the CRD the chart installs (unknown
fields refused, as `kubectl apply` does); the workflow cannot run here (it needs Docker), so it is
read: the images it builds, the files it uses and the chart values it sets must all exist.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

from chart_render import CHART, ROOT, find, render_chart
from genesys.api import Evolution, loads_manifest

EXAMPLE = ROOT / "examples" / "evolution.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "e2e-kind.yml"


def crd_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI v3.0 schema as JSON Schema: unknown fields refused, `nullable` as a null type."""
    out = {k: v for k, v in node.items() if not k.startswith("x-kubernetes") and k not in ("nullable", "default")}
    if "properties" in node:
        out["properties"] = {name: crd_json_schema(sub) for name, sub in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = crd_json_schema(node[key])
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def chart_crd_errors(manifest: dict[str, Any]) -> list[str]:
    crd = yaml.safe_load((CHART / "crds" / "genesys.dev_evolutions.yaml").read_text())
    schema = crd_json_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft4Validator(schema).iter_errors(manifest)]


def test_the_cluster_example_is_a_valid_evolution():
    text = EXAMPLE.read_text()
    evolution = loads_manifest(text, Evolution, str(EXAMPLE))
    assert chart_crd_errors(yaml.safe_load(text)) == []
    spec = evolution.spec
    assert spec.ladder.preset == "paper" and len(spec.ladder.rung_names()) == 5
    assert spec.designer.kind == "llm" and spec.designer.llm is not None and spec.designer.llm.secret
    assert (spec.data.source, spec.evaluation.tasks) == ("HuggingFaceTB/smollm-corpus", "paper9")
    assert spec.artifacts.url is None, "a cluster run uses the operator's store (charts/genesys store.*)"
    assert spec.resources.queue is None, "a Kueue queue holds every child suspended where Kueue is absent"
    assert "# queue:" in text, "say how to use Kueue"
    # one GPU per torchrun process on every rung
    for name in spec.ladder.rung_names():
        resources = spec.ladder.rung(name).resources or spec.resources.verification
        assert resources.gpus == spec.parallelism.nproc_per_verification, name
    assert spec.resources.session.gpus == 0


def test_the_schema_check_refuses_what_the_api_server_refuses():
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["spec"]["resources"]["session"]["gpu"] = 1
    manifest["spec"]["ladder"]["preset"] = "huge"
    errors = chart_crd_errors(manifest)
    assert any("'gpu' was unexpected" in e for e in errors) and any("'huge' is not one of" in e for e in errors)


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def scripts() -> str:
    """Every `run:` of the workflow, continuations joined, its job's variables substituted."""
    job = workflow()["jobs"]["kind"]
    text = "\n".join(step.get("run", "") for step in job["steps"]).replace("\\\n", " ")
    return re.sub(r"\$(\w+)", lambda m: str(job["env"].get(m.group(1), m.group(0))), text)


def test_the_workflow_builds_and_loads_the_three_images():
    text = scripts()
    for image in ("operator", "agent", "trainer"):
        assert re.search(rf"docker build -f images/{image}/Dockerfile .*-t genesys/{image}:e2e \.", text), image
        assert (ROOT / "images" / image / "Dockerfile").is_file()
    assert "kind load docker-image" in text and "for image in operator agent trainer" in text
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert {"workflow_dispatch", "pull_request", "push"} <= triggers.keys()


def test_the_workflows_files_exist():
    text = scripts()
    for path in set(re.findall(r"(?:examples|charts|images)/[\w./-]+", text)):
        assert (ROOT / path.rstrip(".")).exists(), f"{WORKFLOW.name} uses {path}, which does not exist"
    assert "apply -f examples/evolution-quick.yaml" in text
    assert "--for=jsonpath='{.status.phase}'=Verified" in text


def helm_install_values() -> dict[str, Any]:
    (command,) = [line for line in scripts().splitlines() if line.strip().startswith("helm install")]
    words = shlex.split(command)
    assert words[:4] == ["helm", "install", "genesys", "charts/genesys"]
    values: dict[str, Any] = {}
    for expression in [words[i + 1] for i, word in enumerate(words) if word == "--set"]:
        values = deep_merge(values, helm.parse_set_string(expression))
    return values


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_the_workflow_installs_the_chart_with_its_images_and_a_pvc_store():
    values = helm_install_values()
    manifests = render_chart(values)  # the schema accepts them
    (claim,) = find(manifests, "PersistentVolumeClaim")
    env = {e["name"]: e.get("value") for e in find(manifests, "Deployment")[0]["spec"]["template"]["spec"]
           ["containers"][0]["env"]}
    assert env["GENESYS_AGENT_IMAGE"] == "genesys/agent:e2e" and env["GENESYS_TRAINER_IMAGE"] == "genesys/trainer:e2e"
    # the volume the workflow provides is the one the chart's claim binds to
    heredoc = re.search(r"<<'YAML'[^\n]*\n(.*?)\n\s*YAML", scripts(), re.S)
    assert heredoc, "the workflow should create the store's PersistentVolume from a <<'YAML' here-document"
    (volume,) = [doc for doc in yaml.safe_load_all(heredoc.group(1)) if doc]
    kubernetes_validate.validate(volume, "1.29", strict=True)
    assert volume["spec"]["storageClassName"] == claim["spec"]["storageClassName"]
    assert set(claim["spec"]["accessModes"]) <= set(volume["spec"]["accessModes"])
    assert volume["spec"]["capacity"]["storage"] == claim["spec"]["resources"]["requests"]["storage"]
