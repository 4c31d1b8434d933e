"""Real kubectl against the emulated API server: apply, get (server-side tables), describe, delete, refusals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_emulator import KubectlError, KubeEmulator

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds" / "manifests"
QUICK = ROOT / "examples" / "evolution-quick.yaml"


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_apply_makes_the_crds_served_and_established_then_takes_the_example(kube_api):
    applied = kube_api.kubectl("apply", "-f", str(CRDS)).stdout
    assert applied.count("created") == 4, applied
    crd = kube_api.get("crd", "evolutions.genesys.dev")
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {"Established": "True",
                                                                            "NamesAccepted": "True"}
    assert kube_api.kubectl("apply", "-f", str(QUICK)).stdout.strip() == "evolution.genesys.dev/quick created"
    assert kube_api.kubectl("apply", "-f", str(QUICK)).stdout.strip() == "evolution.genesys.dev/quick unchanged"
    stored = kube_api.get("Evolution", "quick")
    assert stored["spec"]["ladder"]["selectionRatio"] == 0.25  # defaulted from the schema
    assert stored["spec"]["selection"]["operations"] == {"mutation": 0.75, "crossover": 0.2, "scratch": 0.05}
    assert stored["metadata"]["generation"] == 1 and "status" not in stored
    resources = kube_api.kubectl("api-resources", "--api-group=genesys.dev").stdout
    assert rows(resources)[1:] == [
        ["designs", "dsn", "genesys.dev/v1alpha1", "true", "Design"],
        ["evolutions", "evo", "genesys.dev/v1alpha1", "true", "Evolution"],
        ["scalebudgets", "sb", "genesys.dev/v1alpha1", "true", "ScaleBudget"],
        ["verificationjobs", "vj", "genesys.dev/v1alpha1", "true", "VerificationJob"],
    ]


def _design(name: str, parents: list[str]) -> dict[str, Any]:
    design = yaml.safe_load((ROOT / "examples" / "designs" / "gpt2.yaml").read_text())
    design["metadata"] = {"name": name}
    design["spec"].update(operation="mutation" if parents else "seed", parents=parents)
    return design


def test_kubectl_get_prints_the_printer_columns(genesys_api, quick):
    api = genesys_api
    api.create(quick())
    api.patch_status("Evolution", "quick", {"phase": "Running", "designs": 3, "verified": 1,
                                            "bestDesign": "design-0002", "bestFitness": 0.51})
    api.create(_design("design-0002", ["gpt2", "retnet"]))
    api.patch_status("Design", "design-0002", {"phase": "Verified", "bestRung": "cpu-1", "bestFitness": 0.51})
    api.create({"apiVersion": "genesys.dev/v1alpha1", "kind": "ScaleBudget", "metadata": {"name": "quick-cpu-1"},
                "spec": {"evolution": "quick", "rung": "cpu-1", "runs": 4},
                "status": {"runs": {"total": 4, "released": 2, "used": 1, "running": 1}}})
    evo = rows(api.kubectl("get", "evo").stdout)
    assert evo[0] == ["NAME", "PHASE", "DESIGNS", "VERIFIED", "BEST", "FITNESS", "AGE"]
    assert evo[1][:6] == ["quick", "Running", "3", "1", "design-0002", "0.51"]
    designs = rows(api.kubectl("get", "designs").stdout)
    assert designs[0] == ["NAME", "PHASE", "OPERATION", "PARENTS", "BEST-RUNG", "FITNESS", "AGE"]
    assert designs[1][:6] == ["design-0002", "Verified", "mutation", '["gpt2","retnet"]', "cpu-1", "0.51"]
    assert rows(api.kubectl("get", "sb").stdout) == [["NAME", "RUNG", "USED", "RUNNING", "RELEASED", "TOTAL"],
                                                     ["quick-cpu-1", "cpu-1", "1", "1", "2", "4"]]
    several = api.kubectl("get", "evo,dsn,vj,sb").stdout
    for name in ("evolution.genesys.dev/quick", "design.genesys.dev/design-0002",
                 "scalebudget.genesys.dev/quick-cpu-1"):
        assert name in several, several
    category = api.kubectl("get", "genesys").stdout
    assert "evolution.genesys.dev/quick" in category and "design.genesys.dev/design-0002" in category
    wide = rows(api.kubectl("get", "evo", "-o", "wide").stdout)
    assert wide[0][:2] == ["NAME", "PHASE"]
    as_yaml = yaml.safe_load(api.kubectl("get", "evo", "quick", "-o", "yaml").stdout)
    as_json = json.loads(api.kubectl("get", "evo", "-o", "json").stdout)
    assert as_yaml["status"]["bestDesign"] == as_json["items"][0]["status"]["bestDesign"] == "design-0002"


def test_builtin_kinds_get_their_usual_columns(kube_api):
    kube_api.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                     "data": {"a": "1", "b": "2"}})
    kube_api.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"}, "spec": {"template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "trainer:1"}]}}}})
    kube_api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "train-0"}, "spec": {
        "containers": [{"name": "main", "image": "trainer:1"}]}})
    assert rows(kube_api.kubectl("get", "cm", "settings").stdout)[1][:2] == ["settings", "2"]
    jobs = rows(kube_api.kubectl("get", "jobs", "-o", "wide").stdout)
    assert jobs[0][:4] == ["NAME", "STATUS", "COMPLETIONS", "DURATION"] and "IMAGES" in jobs[0]
    assert jobs[1][:3] == ["train", "Running", "0/1"] and "trainer:1" in jobs[1]
    pods = rows(kube_api.kubectl("get", "pods").stdout)
    assert pods == [["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["train-0", "0/1", "Pending", "0", pods[1][4]]]


MALFORMED = [
    ("selectionRatio 0", lambda m: m["spec"]["ladder"].update(selectionRatio=0),
     "spec.ladder.selectionRatio: Invalid value: 0: spec.ladder.selectionRatio in body should be greater than 0"),
    ("a ratio in the wrong place", lambda m: m["spec"]["selection"].update(selectionRatio=0),
     "spec.selection.selectionRatio: field not declared in schema"),
    ("an unknown field", lambda m: m["spec"].update(foo=1), "spec.foo: field not declared in schema"),
    ("a null preset and no rungs (CEL)", lambda m: m["spec"]["ladder"].update(preset=None, rungs=[]),
     'spec.ladder: Invalid value: "object": ladder needs a preset (cpu or paper) or a list of rungs'),
    ("a duplicate rung (list-map key)", lambda m: m["spec"]["ladder"]["rungs"].append({"name": "cpu-1"}),
     'spec.ladder.rungs[2]: Duplicate value: {"name":"cpu-1"}'),
    ("no positive operation weight (CEL)", lambda m: m["spec"]["selection"].update(
        operations={"mutation": 0, "crossover": 0, "scratch": 0}), "at least one of mutation, crossover, scratch"),
    ("an unknown designer", lambda m: m["spec"]["designer"].update(kind="oracle"),
     'spec.designer.kind: Unsupported value: "oracle": supported values: "gp", "llm"'),
    ("an llm designer without its settings (CEL)", lambda m: m["spec"]["designer"].update(kind="llm"),
     "designer.kind llm needs designer.llm"),
    ("no seeds", lambda m: m["spec"].update(seeds=[]), "spec.seeds in body should have at least 1 items"),
    ("a string for an integer", lambda m: m["spec"].update(seed="zero"),
     'spec.seed: Invalid value: "zero": spec.seed in body must be of type integer: "string"'),
]


@pytest.mark.parametrize(("change", "refusal"), [(c, r) for _, c, r in MALFORMED], ids=[i for i, _, _ in MALFORMED])
def test_kubectl_apply_refuses_a_malformed_evolution_naming_the_field(genesys_api, quick, tmp_path, change, refusal):
    manifest = quick()
    change(manifest)
    path = tmp_path / "evolution.yaml"
    path.write_text(yaml.safe_dump(manifest))
    # client-side apply drops nulls from what it creates (the server would then default the preset),
    # server-side apply sends the manifest as written
    done = genesys_api.kubectl("apply", "--server-side", "-f", str(path), check=False)
    assert done.returncode != 0
    assert 'The Evolution "quick" is invalid' in done.stderr and refusal in done.stderr, done.stderr
    assert genesys_api.objects("Evolution") == []


def test_describe_events_and_delete(genesys_api, quick):
    api = genesys_api
    evolution = api.create(quick())
    api.create({"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "quick-"}, "type": "Normal",
                "reason": "Started", "message": "seeding gpt2 and retnet", "source": {"component": "genesys"},
                "involvedObject": {"apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution", "name": "quick",
                                   "namespace": "default", "uid": evolution["metadata"]["uid"]},
                "firstTimestamp": evolution["metadata"]["creationTimestamp"],
                "lastTimestamp": evolution["metadata"]["creationTimestamp"]})
    described = api.kubectl("describe", "evolution", "quick").stdout
    assert "Selection Ratio:  0.25" in described
    assert "Normal  Started" in described and "seeding gpt2 and retnet" in described, described
    events = rows(api.kubectl("get", "events").stdout)
    assert events[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert events[1][1:5] == ["Normal", "Started", "evolution/quick", "seeding"]
    assert api.kubectl("delete", "evo", "quick").stdout.strip() == 'evolution.genesys.dev "quick" deleted'
    assert "No resources found" in api.kubectl("get", "evo").stderr


@pytest.mark.parametrize("version", ["1.32.4", "1.33.1"])
def test_newer_kubectl_builds_work_too(tmp_path, quick, version):
    """gcloud's kubectl runs the build matching the server's minor version: try the newer ones."""
    with KubeEmulator(workdir=tmp_path / "kube", version=version) as api:
        client = json.loads(api.kubectl("version", "-o", "json").stdout)["clientVersion"]
        assert client["gitVersion"].startswith(f"v1.{version.split('.')[1]}."), client
        api.kubectl("apply", "-f", str(CRDS))
        api.kubectl("apply", "-f", str(QUICK))
        assert rows(api.kubectl("get", "genesys").stdout)[1][0] == "evolution.genesys.dev/quick"
        bad = quick()
        bad["spec"]["foo"] = 1
        done = api.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
        assert done.returncode != 0 and "spec.foo: field not declared in schema" in done.stderr, done.stderr


def test_a_kubectl_failure_reports_its_stderr(kube_api):
    with pytest.raises(KubectlError, match='configmaps "missing" not found') as failed:
        kube_api.kubectl("get", "configmap", "missing")
    assert failed.value.returncode == 1
    assert isinstance(kube_api.kubectl("get", "ns", check=False), subprocess.CompletedProcess)
