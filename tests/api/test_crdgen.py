"""The generated CRDs: no drift from genesys.api, structural schemas, and manifests judged as the API server would.

The API server's part is played here by OpenAPI validation (jsonschema, with unknown fields
refused as `kubectl apply`'s default strict field validation does), its defaulting and null
pruning, list-map key uniqueness, and the CEL rules evaluated with cel-python.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from genesys.api import Design, Evolution
from genesys.api.crdgen import RESOURCES, CRDError, openapi_schema, structural, write_crds

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "crds" / "manifests"
REGENERATE = "python -m genesys.api.crdgen --out crds/manifests"
SCHEMAS = {r.kind: openapi_schema(r.model) for r in RESOURCES}
MODELS: dict[str, type[BaseModel]] = {r.kind: r.model for r in RESOURCES}
EXAMPLES = sorted(
    [*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/designs/*.yaml"), *ROOT.glob("crds/genesys/api/seeds/*.yaml")]
)


def committed(kind: str) -> dict[str, Any]:
    resource = next(r for r in RESOURCES if r.kind == kind)
    return yaml.safe_load((MANIFESTS / resource.filename).read_text())


def test_committed_crds_match_the_models(tmp_path):
    written = {p.name: p.read_bytes() for p in write_crds(tmp_path)}
    on_disk = {p.name: p.read_bytes() for p in MANIFESTS.glob("*.yaml")}
    stale = sorted(set(on_disk) ^ set(written))
    changed = sorted(n for n in written.keys() & on_disk.keys() if written[n] != on_disk[n])
    assert not stale and not changed, f"crds/manifests is out of date ({stale + changed}): run `{REGENERATE}`"


def structural_problems(node: dict[str, Any], where: str = "") -> list[str]:
    """What makes a schema non-structural (or misread by Kubernetes), one line per problem."""
    problems = [f"{where}: {key}" for key in ("$ref", "$defs", "const", "title", "allOf", "oneOf") if key in node]
    if any(b.get("type") == "null" for b in node.get("anyOf", [])):
        problems.append(f"{where}: anyOf with null")
    free = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if "type" not in node and not free:
        problems.append(f"{where}: no type")
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in node and not isinstance(node[key], bool):
            problems.append(f"{where}: numeric {key} (Kubernetes reads a boolean)")
    extra = node.get("additionalProperties")
    if extra is False:
        problems.append(f"{where}: additionalProperties: false")
    if "properties" in node and extra is not None:
        problems.append(f"{where}: properties and additionalProperties together")
    if node.get("x-kubernetes-list-type") == "map" and "properties" in node["items"]:
        item = node["items"]
        missing = [k for k in node["x-kubernetes-list-map-keys"]
                   if k not in item.get("required", []) and "default" not in item["properties"][k]]
        problems += [f"{where}: list-map key {k} is neither required nor defaulted" for k in missing]
    for name, sub in node.get("properties", {}).items():
        problems += structural_problems(sub, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        problems += structural_problems(node["items"], f"{where}[]")
    if isinstance(extra, dict):
        problems += structural_problems(extra, f"{where}.*")
    return problems


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_schemas_are_structural(kind):
    schema = committed(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_problems(schema) == []
    assert schema["properties"]["metadata"] == {"type": "object"}  # Kubernetes allows nothing more here


def test_the_checker_finds_what_pydantic_leaves_in():
    raw = Evolution.model_json_schema(by_alias=True)
    found = " ".join(p for node in (raw, *raw["$defs"].values()) for p in structural_problems(node))
    for problem in ("$ref", "$defs", "const", "title", "anyOf with null", "numeric exclusiveMinimum",
                    "additionalProperties: false", "properties and additionalProperties together", "no type"):
        assert problem in found


def test_unions_other_than_optional_are_refused_with_the_field_named():
    class Bad(BaseModel):
        size: int | str

    with pytest.raises(CRDError, match=r"\.size: only `X \| None` unions"):
        structural(Bad.model_json_schema(), {})


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.kind)
def test_names_columns_and_status(resource):
    spec = committed(resource.kind)["spec"]
    assert spec["group"] == "genesys.dev" and spec["scope"] == "Namespaced"
    assert spec["names"]["categories"] == ["genesys"] and spec["names"]["shortNames"] == [resource.short_name]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata."):  # creationTimestamp, the logical names' annotations
            continue
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            assert part in node.get("properties", {}), f"{resource.kind} column {column['name']}: no {part}"
            node = node["properties"][part]
        if column["type"] in ("integer", "number"):
            assert node["type"] == column["type"], column


def test_kubectl_get_shows_the_columns_of_the_design():
    columns = committed("Design")["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"].upper() for c in columns] == ["PHASE", "OPERATION", "PARENTS", "BEST-RUNG", "FITNESS", "AGE"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl client")
def test_kubectl_parses_the_crds():
    # `create/apply --dry-run=client` ask the server for its API groups; `annotate --local` only parses.
    kubectl = shutil.which("kubectl") or "kubectl"
    out = subprocess.run(
        [kubectl, "annotate", "--local", "-f", str(MANIFESTS), "genesys.dev/parsed=true", "-o", "name"],
        capture_output=True, text=True, timeout=60, env={"KUBECONFIG": "/dev/null"},
    )
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == sorted(
        f"customresourcedefinition.apiextensions.k8s.io/{r.plural}.genesys.dev" for r in RESOURCES
    )


def as_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3.0 CRD schema as draft-4 JSON Schema, unknown fields refused (strict field validation)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: as_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = as_json_schema(value)
        elif not key.startswith("x-kubernetes") and key not in ("nullable", "default"):
            out[key] = value
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def openapi_errors(manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(as_json_schema(SCHEMAS[manifest["kind"]]))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def defaulted(node: dict[str, Any], value: Any) -> Any:
    """`value` as the API server stores it: nulls pruned, defaults filled in, numbers as doubles.

    A null where null is allowed stays, undefaulted; CEL then sees the field as absent, so
    it is dropped here too.
    """
    if isinstance(value, dict) and "properties" in node:
        out = {}
        for name, sub in node["properties"].items():
            if name in value and value[name] is None and sub.get("nullable"):
                continue
            if value.get(name) is not None:
                out[name] = defaulted(sub, value[name])
            elif "default" in sub:
                out[name] = defaulted(sub, copy.deepcopy(sub["default"]))
        return out
    if isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
        return {k: defaulted(node["additionalProperties"], v) for k, v in value.items() if v is not None}
    if isinstance(value, list) and "items" in node:
        return [defaulted(node["items"], v) for v in value]
    if node.get("type") == "number" and isinstance(value, int):
        return float(value)
    return value


def rule_failures(node: dict[str, Any], new: Any, old: Any = None, where: str = "") -> list[str]:
    """The messages of the CEL rules and list-map keys `new` breaks (an update of `old` when given)."""
    failures = []
    env = celpy.Environment()
    for rule in node.get("x-kubernetes-validations", []):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue  # transition rules run only on updates of a field that was set
        names = {"self": celpy.json_to_cel(new)} | ({"oldSelf": celpy.json_to_cel(old)} if transition else {})
        try:
            verdict = env.program(env.compile(rule["rule"])).evaluate(names)
        except celpy.CELEvalError as err:  # the API server refuses what a rule cannot evaluate
            verdict = err
        if not (isinstance(verdict, celpy.celtypes.BoolType) and verdict):
            failures.append(f"{where}: {rule['message']}")
    if node.get("x-kubernetes-list-type") == "map":
        keys = [tuple(item.get(k) for k in node["x-kubernetes-list-map-keys"]) for item in new]
        failures += [f"{where}: duplicate entries for key {k}" for k in sorted(set(keys)) if keys.count(k) > 1]
    for name, sub in node.get("properties", {}).items():
        if isinstance(new, dict) and name in new:
            before = old.get(name) if isinstance(old, dict) else None
            failures += rule_failures(sub, new[name], before, f"{where}.{name}")
    if isinstance(node.get("additionalProperties"), dict) and isinstance(new, dict):
        for key, value in new.items():
            failures += rule_failures(node["additionalProperties"], value, None, f"{where}.{key}")
    if "items" in node and isinstance(new, list):
        failures += [f for v in new for f in rule_failures(node["items"], v, None, f"{where}[]")]
    return failures


def pruned(node: dict[str, Any], value: Any) -> Any:
    """`value` without the nulls the API server drops before it validates: those of fields not nullable."""
    if isinstance(value, dict):
        extra = node.get("additionalProperties")
        subs = {k: node.get("properties", {}).get(k, extra if isinstance(extra, dict) else {}) for k in value}
        return {k: pruned(subs[k], v) for k, v in value.items() if v is not None or subs[k].get("nullable")}
    if isinstance(value, list):
        return [pruned(node.get("items", {}), v) for v in value]
    return value


def admission(manifest: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """What the API server would refuse `manifest` for, as created or as an update of `old`."""
    schema = SCHEMAS[manifest["kind"]]
    errors = openapi_errors(pruned(schema, manifest))
    if errors:
        return errors
    return rule_failures(schema, defaulted(schema, manifest), defaulted(schema, old) if old else None)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_manifest_is_admitted(path):
    manifest = yaml.safe_load(path.read_text())
    assert admission(manifest) == []


def load(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


EVOLUTION = "examples/evolution-quick.yaml"
DESIGN = "examples/designs/gpt2.yaml"


def edit(path: str, change) -> dict[str, Any]:
    manifest = load(path)
    change(manifest)
    return manifest


# (manifest, what the API server says): each also refused by the pydantic model, or admitted by both
CASES = [
    (edit(EVOLUTION, lambda m: m["spec"].update(sedd=1)), "Additional properties are not allowed ('sedd'"),
    (edit(EVOLUTION, lambda m: m["spec"]["ladder"].update(selectionRatio=0)), "less than or equal to the minimum"),
    (edit(EVOLUTION, lambda m: m.update(status={"phase": "Paused"})), "'Paused' is not one of"),
    (edit(DESIGN, lambda m: m.update(status={"phase": "Done"})), "'Done' is not one of"),
    (edit(DESIGN, lambda m: m["spec"].update(operation="evolve")), "'evolve' is not one of"),
    (edit(EVOLUTION, lambda m: m["spec"]["ladder"].update(preset=None, rungs=[])), "ladder needs a preset"),
    (edit(EVOLUTION, lambda m: m["spec"]["ladder"].update(preset=None, rungs=[{"name": "cpu-2"}])), None),
    (edit(EVOLUTION, lambda m: m["spec"]["ladder"]["rungs"].append({"name": "cpu-1"})), "duplicate entries"),
    (edit(EVOLUTION, lambda m: m["spec"].update(selection={"operations": {"mutation": 0, "crossover": 0,
                                                                          "scratch": 0}})), "positive weight"),
    (edit(EVOLUTION, lambda m: m["spec"].update(selection={"operations": {"mutation": 0, "crossover": 1,
                                                                          "scratch": 0}})), None),
    (edit(DESIGN, lambda m: m["spec"]["tree"].update(root="Missing")), "tree.root must name one of tree.units"),
    # the LLM designer: a model for every role (default or each), caps that nest, one entry per model
    (edit(EVOLUTION, lambda m: m["spec"].update(designer={"kind": "llm", "llm": {"roles": {
        "default": {"models": [{"model": "openai/gpt-4o"}]}}, "sessionCostCapUSD": 5, "evolutionCostCapUSD": 50}})),
     None),
    (edit(EVOLUTION, lambda m: m["spec"].update(designer={"kind": "llm", "llm": {"roles": {
        "coder": {"models": [{"model": "openai/gpt-4o"}]}}}})), "llm.roles: give roles.default.models"),
    (edit(EVOLUTION, lambda m: m["spec"].update(designer={"kind": "llm", "llm": {"roles": {
        "default": {"models": [{"model": "openai/gpt-4o"}]}}, "sessionCostCapUSD": 50, "evolutionCostCapUSD": 5}})),
     "llm.sessionCostCapUSD cannot exceed llm.evolutionCostCapUSD"),
    (edit(EVOLUTION, lambda m: m["spec"].update(designer={"kind": "llm", "llm": {"roles": {
        "default": {"models": [{"model": "openai/a"}, {"model": "openai/a"}]}}}})), "duplicate entries"),
]


@pytest.mark.parametrize(("manifest", "refusal"), CASES, ids=[str(c[1]) for c in CASES])
def test_the_api_server_and_the_models_agree(manifest, refusal):
    refused = admission(manifest)
    if refusal is None:
        assert refused == []
    else:
        assert any(refusal in r for r in refused), refused
    model_refuses = False
    try:
        MODELS[manifest["kind"]].model_validate(manifest)
    except ValidationError:
        model_refuses = True
    assert model_refuses == (refusal is not None)


def test_a_design_is_created_without_a_tree_which_is_then_set_once():
    running = edit(DESIGN, lambda m: m["spec"].pop("tree"))
    assert admission(running) == []
    finished = load(DESIGN)
    assert admission(finished, old=running) == []
    changed = edit(DESIGN, lambda m: m["spec"]["tree"]["units"]["GPT2Block"].update(code="class GPT2Block: pass"))
    assert any("spec.tree is immutable" in f for f in admission(changed, old=finished))
    assert any("cannot be removed" in f for f in admission(running, old=finished))
    with pytest.raises(ValidationError, match="tree"):
        Design.model_validate(running)  # Python reads finished designs only


STATUSES = {
    "Evolution": {"phase": "Running", "designs": 7, "designsByPhase": {"Verified": 3, "Designing": 1}, "verified": 3,
                  "bestDesign": "design-0004", "bestFitness": 0.51, "spend": {"deviceHours": 1.5, "usd": 0.2},
                  "startTime": "2025-01-01T00:00:00Z", "completedReason": None},
    "Design": {"phase": "Failed", "fitness": {"cpu-1": 0.5}, "bestRung": "cpu-1", "bestFitness": 0.5,
               "rating": -0.01, "order": 6, "sessionSeed": 1234, "reason": "diverged", "failure": "VerificationFailed",
               "conditions": [{"type": "Ready", "status": "False", "reason": "Diverged",
                               "lastTransitionTime": "2025-01-01T00:00:00Z"}]},
    "VerificationJob": {"phase": "Succeeded", "fitness": 0.5, "scores": {"blimp": 0.6}, "baselines": {"blimp": 0.5},
                        "deviceSeconds": 95.0, "attempts": 1, "startTime": "2025-01-01T00:00:00Z",
                        "completionTime": "2025-01-01T00:02:00Z"},
    "ScaleBudget": {"runs": {"total": 4, "released": 2, "used": 1, "running": 1}, "deviceHours": 0.03},
}
SPECS = {
    "Evolution": load(EVOLUTION)["spec"],
    "Design": load(DESIGN)["spec"],
    "VerificationJob": {"design": "gpt2", "rung": "cpu-1", "overrides": {"tokens": 16384}},
    "ScaleBudget": {"evolution": "quick", "rung": "cpu-1", "runs": 4},
}


@pytest.mark.parametrize("kind", sorted(STATUSES))
def test_statuses_read_the_same_in_python_and_in_the_cluster(kind):
    manifest = {"apiVersion": "genesys.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"},
                "spec": SPECS[kind], "status": STATUSES[kind]}
    assert admission(manifest) == []
    status = MODELS[kind].model_validate(manifest).status
    assert status is not None
    dumped = status.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert dumped == {k: v for k, v in STATUSES[kind].items() if v is not None}


def test_bad_status_conditions_are_refused():
    manifest = {**load(DESIGN), "status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}}
    assert any("'Maybe' is not one of" in e for e in admission(manifest))
    twice = [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}]
    assert any("duplicate entries" in e for e in admission({**load(DESIGN), "status": {"conditions": twice}}))


def test_models_with_factory_defaults_default_to_an_empty_object():
    ladder = SCHEMAS["Evolution"]["properties"]["spec"]["properties"]["ladder"]
    assert ladder["default"] == {} and ladder["properties"]["preset"] == {
        "default": "cpu", "enum": ["cpu", "paper"], "nullable": True, "type": "string"}
    assert defaulted(SCHEMAS["Evolution"], load(EVOLUTION))["spec"]["selection"]["operations"]["mutation"] == 0.75
